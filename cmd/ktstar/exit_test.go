package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ktstar/ktstar/cgroupfs"
)

// killedScript runs two workers in a group and holds until one of them
// is gone, then stops them and judges them with checks.default().
const killedScript = `
g = cgroup.create("k")
h = spawn(workload(workers = 2), cgroup = g)
h.start()
print(h.pids[0])
while len(g.pids()) == 2:
    sleep("10ms")
res = checks.evaluate(h.stop(), base = checks.default())
print(res.verdict)
`

// TestWorkerKilledFromOutside: a worker killed by a signal ktstar did not
// send fails the run (exit 1), and its report, the summary and
// checks.default() say so.
func TestWorkerKilledFromOutside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root")
	}
	if _, err := cgroupfs.Default(); err != nil {
		t.Skipf("no cgroup v2 hierarchy: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out.json")
	cmd := exec.Command(bin, "--json", out, script(t, killedScript))
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
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	victim, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("no worker pid printed: %q; stderr: %s", line, errb.String())
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	verdict, _ := r.ReadString('\n')
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1; stderr: %s", code, errb.String())
	}
	if strings.TrimSpace(verdict) != "fail" {
		t.Errorf("checks.default() verdict %q, want fail", verdict)
	}
	want := "worker " + strconv.Itoa(victim) + ": killed by SIGKILL, which ktstar did not send"
	if !strings.Contains(errb.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, errb.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc output
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rep := range doc.Runs[0].Reports {
		if rep.Tid == victim {
			found = rep.ExitInfo.Foreign() && strings.Contains(rep.ExitInfo.Error, "ktstar did not send") && !rep.Completed
		}
	}
	if !found || doc.ExitStatus != 1 {
		t.Errorf("--json: exit_status %d, victim's report not marked as killed from outside: %s", doc.ExitStatus, b)
	}
}
