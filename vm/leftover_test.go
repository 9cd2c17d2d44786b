package vm

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLeftovers: a live child is listed with its name until it ends (the
// host has other processes, so leftovers waits its whole grace);
// kernel threads (kthreadd, pid 2) never are.
func TestLeftovers(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(cmd.Process.Pid) + " (sleep)"
	has := func(left []string, s string) bool {
		for _, l := range left {
			if l == s || strings.HasPrefix(l, s) {
				return true
			}
		}
		return false
	}
	left := userProcesses()
	if !has(left, me) {
		t.Errorf("userProcesses() = %v, want %q among them", left, me)
	}
	if has(left, "2 (") {
		t.Errorf("userProcesses() = %v lists kthreadd", left)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if left := leftovers(2 * time.Second); has(left, me) {
		t.Errorf("leftovers after the kill = %v, still %q", left, me)
	}
}
