package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/internal/testenv"
)

// groupScript creates a group with a running worker, prints the group's
// directory and waits to be killed.
const groupScript = `
g = cgroup.create("victim")
h = spawn(workload(workers = 1), cgroup = g)
h.start()
print(g.dir)
sleep("60s")
`

// startInGroup runs groupScript and returns the command and the run
// group's directory (the parent of the printed one).
func startInGroup(t *testing.T) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	testenv.NeedCgroupV2(t)
	cmd := exec.Command(bin, "-q", script(t, groupScript))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no group printed: %v; stderr: %s", err, errb.String())
	}
	dir := strings.TrimSpace(line)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("group %s while the script runs: %v", dir, err)
	}
	run := filepath.Dir(dir)
	if filepath.Base(run) != cgroupfs.RunPrefix+strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("group %s is not below the run's ktstar-%d", dir, cmd.Process.Pid)
	}
	return cmd, &errb, run
}

func gone(t *testing.T, dir string) bool {
	t.Helper()
	_, err := os.Stat(dir)
	return errors.Is(err, os.ErrNotExist)
}

// TestCgroupsRemovedOnSignal: SIGINT and SIGTERM end the run with its
// groups removed.
func TestCgroupsRemovedOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, errb, run := startInGroup(t)
			cmd.Process.Signal(sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Errorf("exit %d, want %d; stderr: %s", code, 128+int(sig), errb)
			}
			if !gone(t, run) {
				t.Errorf("run group %s left after %s", run, sig)
			}
		})
	}
}

// TestCgroupSweepAfterSIGKILL: a run killed with SIGKILL cannot clean up,
// so its group stays; the next run that uses cgroups sweeps it.
func TestCgroupSweepAfterSIGKILL(t *testing.T) {
	cmd, _, run := startInGroup(t)
	t.Cleanup(func() {
		if m, err := cgroupfs.Default(); err == nil {
			if g, err := m.Child(filepath.Base(run)); err == nil {
				g.Destroy()
			}
		}
	})
	cmd.Process.Kill()
	cmd.Wait()
	if gone(t, run) {
		t.Fatalf("run group %s vanished after SIGKILL; nothing left to sweep", run)
	}
	if _, errs, code := ktstar(t, "", "-q", script(t, "cgroup.create(\"next\")\n")); code != 0 {
		t.Fatalf("next run: exit %d: %s", code, errs)
	}
	if !gone(t, run) {
		t.Errorf("stale run group %s survived the next run's sweep", run)
	}
}
