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
	"time"

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
	out, errb := startCmd(t, cmd)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("no group printed: %v; stderr: %s", err, errb.String())
	}
	dir := strings.TrimSpace(line)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("group %s while the script runs: %v", dir, err)
	}
	run := filepath.Dir(dir)
	if !strings.HasPrefix(filepath.Base(run), cgroupfs.RunPrefix+strconv.Itoa(cmd.Process.Pid)+"-") {
		t.Fatalf("group %s is not below the run's ktstar-%d-<run id>", dir, cmd.Process.Pid)
	}
	return cmd, errb, run
}

func gone(t *testing.T, dir string) bool {
	t.Helper()
	_, err := os.Stat(dir)
	return errors.Is(err, os.ErrNotExist)
}

// addGoAhead puts one more process into the cgroup at dir: the scripts
// that hold until their group grows go on. The process (a sleep) is
// killed and reaped when the test ends.
func addGoAhead(t *testing.T, dir string) {
	t.Helper()
	goAhead := exec.Command("sleep", "1000")
	if err := goAhead.Start(); err != nil {
		t.Fatal(err)
	}
	// Reaped as soon as the run's cleanup kills it: a zombie would keep
	// the group populated.
	reaped := make(chan struct{})
	go func() { goAhead.Wait(); close(reaped) }()
	t.Cleanup(func() { goAhead.Process.Kill(); <-reaped })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(goAhead.Process.Pid)), 0); err != nil {
		t.Fatalf("add a process to the group: %v", err)
	}
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
	// Its worker dies of its parent-death signal; a group that still
	// holds a process is never swept.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(run, "cgroup.events"))
		if err != nil || strings.Contains(string(b), "populated 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed run's worker is still in %s: %s", run, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, errs, code := ktstar(t, "", "-q", script(t, "cgroup.create(\"next\")\n")); code != 0 {
		t.Fatalf("next run: exit %d: %s", code, errs)
	}
	if !gone(t, run) {
		t.Errorf("stale run group %s survived the next run's sweep", run)
	}
}

// nsHoldScript runs two workers in a group and holds until the test adds a
// third process to the group (its signal to go on), then stops them and
// prints how many completed.
const nsHoldScript = `
g = cgroup.create("w")
h = spawn(workload(workers = 2), cgroup = g)
h.start()
print("ready", g.dir)
while params.get("wait") and len(g.pids()) < 3:
    sleep("10ms")
rs = h.stop()
print("done", len([r for r in rs if r["completed"]]), len(rs))
`

// nsRun is one ktstar run of nsHoldScript, on the host or in a pid
// namespace of its own (unshare -p -f --mount-proc, where it is pid 1
// and names its group ktstar-1-<run id>).
type nsRun struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	errb  *bytes.Buffer
	group string // the directory of its group "w"
}

func startHold(t *testing.T, ns, wait bool) *nsRun {
	t.Helper()
	args := []string{bin, "-q"}
	if wait {
		args = append(args, "--set", "wait=1")
	}
	args = append(args, script(t, nsHoldScript))
	if ns {
		args = append([]string{"unshare", "-p", "-f", "--mount-proc"}, args...)
	}
	r := &nsRun{cmd: exec.Command(args[0], args[1:]...)}
	r.out, r.errb = startCmd(t, r.cmd)
	line, err := r.out.ReadString('\n')
	if _, dir, ok := strings.Cut(strings.TrimSpace(line), " "); err != nil || !ok {
		t.Fatalf("no group printed: %q, %v; stderr: %s", line, err, r.errb)
	} else {
		r.group = dir
	}
	return r
}

// finish waits for the run and checks that every worker completed.
func (r *nsRun) finish(t *testing.T, name string) {
	t.Helper()
	line, _ := r.out.ReadString('\n')
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("%s run: %v; stderr: %s", name, err, r.errb)
	}
	if strings.TrimSpace(line) != "done 2 2" {
		t.Errorf("%s run said %q, want every worker completed (done 2 2); stderr: %s", name, line, r.errb)
	}
}

// TestCgroupRunsAcrossPidNamespaces: a run on the host and a run in a pid
// namespace of its own (where its pid collides with another process's)
// must not sweep each other's live groups, whichever starts first; nor
// must two namespaced runs, which both are pid 1.
func TestCgroupRunsAcrossPidNamespaces(t *testing.T) {
	testenv.NeedCgroupV2(t)
	if err := exec.Command("unshare", "-p", "-f", "--mount-proc", "true").Run(); err != nil {
		t.Skipf("cannot make a pid namespace (unshare -p -f --mount-proc): %v", err)
	}
	for _, tc := range []struct {
		name              string
		firstNS, secondNS bool
	}{
		{"namespace first", true, false},
		{"host first", false, true},
		{"two namespaces", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := startHold(t, tc.firstNS, true)
			// The second run sweeps (and makes its group) while the first's
			// workers run, then completes.
			second := startHold(t, tc.secondNS, false)
			second.finish(t, "second")
			// The go-ahead: one more process in the first run's group.
			addGoAhead(t, first.group)
			first.finish(t, "first")
		})
	}
}
