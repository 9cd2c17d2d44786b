package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
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
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
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

// startForPid starts ktstar with args and reads the worker pid its
// script prints first. It returns the command (killed and reaped when the
// test ends), the rest of stdout and stderr.
func startForPid(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	r, errb := startCmd(t, cmd)
	line, _ := r.ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("no worker pid printed: %q; stderr: %s", line, errb.String())
	}
	return cmd, r, errb, pid
}

// TestWorkerKilledFromOutside: a worker killed by a signal ktstar did not
// send fails the run (exit 1), and its report, the summary and
// checks.default() say so.
func TestWorkerKilledFromOutside(t *testing.T) {
	testenv.NeedCgroupV2(t)
	out := filepath.Join(t.TempDir(), "out.json")
	cmd, r, errb, victim := startForPid(t, "--json", out, script(t, killedScript))
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
	var doc result.Doc
	b := readJSON(t, out, &doc)
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

// exitScript spawns a Sequence with an IO phase inside a cgroup and two
// IoSyncWrite workers (both with scratch files), starts them, prints the
// worker pids and then ends the way params["mode"] says.
const exitScript = `
g = cgroup.create("x")
a = spawn(workload(workers = 1, work = work.sequence(phases = [phase.io("20ms"), phase.spin("5ms")])), cgroup = g)
b = spawn(workload(workers = 2, work = work.io_sync_write(file_kb = 4096)))
a.start()
b.start()
print(json.encode(a.pids + b.pids))
mode = params["mode"]
if mode == "fail":
    fail("on purpose")
elif mode == "require":
    c = spawn(workload(workers = 1))
    c.start()
    checks.require(c.stop(), min_work_rate = 1e18)
elif mode == "error":
    print(1 // 0)
elif mode == "stop":
    a.stop()
    b.stop()
elif mode == "pipe":
    for i in range(100000):
        print(i)
        sleep("5ms")
else:
    sleep("10s")
`

// exitResult is what one ended run left: its exit status, stderr and
// --json document.
type exitResult struct {
	code    int
	stderr  string
	doc     result.Doc
	pid     int   // ktstar's
	workers []int // the workers' pids
}

// runToEnd starts exitScript with mode and extra flags, with TMPDIR set
// to an empty directory of its own, waits for the worker pids, calls end
// (which sends a signal or closes stdout) and waits for the run. It then
// checks that nothing is left: no worker process, no run group, no file
// or directory in TMPDIR.
func runToEnd(t *testing.T, mode string, env []string, end func(cmd *exec.Cmd, stdout *os.File), flags ...string) exitResult {
	t.Helper()
	return runIn(t, t.TempDir(), mode, env, end, true, flags...)
}

// runIn is runToEnd with TMPDIR scratch; with check false it only
// returns the result.
func runIn(t *testing.T, scratch, mode string, env []string, end func(cmd *exec.Cmd, stdout *os.File), check bool, flags ...string) exitResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	args := append([]string{"--json", out, "--set", "mode=" + mode}, flags...)
	cmd := exec.Command(bin, append(args, script(t, exitScript))...)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+scratch), env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); pr.Close() })
	line, err := bufio.NewReader(pr).ReadString('\n')
	var pids []int
	if err := json.Unmarshal([]byte(line), &pids); err != nil || len(pids) != 3 {
		t.Fatalf("no worker pids printed: %q, %v; stderr: %s", line, err, errb.String())
	}
	if end != nil {
		end(cmd, pr)
	}
	go io.Copy(io.Discard, pr) // drain unless end closed it
	cmd.Wait()
	res := exitResult{code: cmd.ProcessState.ExitCode(), stderr: errb.String(), pid: cmd.Process.Pid, workers: pids}
	if !check {
		return res
	}
	if b, err := os.ReadFile(out); err != nil {
		t.Errorf("--json: %v", err)
	} else if err := json.Unmarshal(b, &res.doc); err != nil {
		t.Errorf("--json: %v", err)
	}
	assertNothingLeft(t, cmd.Process.Pid, pids, scratch)
	return res
}

// assertNothingLeft checks that the run of ktstar pid left no worker
// process, no run group and nothing in scratch (its TMPDIR).
func assertNothingLeft(t *testing.T, pid int, workers []int, scratch string) {
	t.Helper()
	for _, w := range workers {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(w))); err == nil {
			t.Errorf("worker %d is still there", w)
		}
	}
	root, err := cgroupfs.Default()
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(root.Path(), cgroupfs.RunPrefix+strconv.Itoa(pid)+"-*")); len(left) > 0 {
		t.Errorf("run groups left: %v", left)
	}
	var files []string
	filepath.WalkDir(scratch, func(p string, d fs.DirEntry, err error) error {
		if p != scratch {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("left in TMPDIR: %v", files)
	}
}

func signalEnd(sig syscall.Signal) func(*exec.Cmd, *os.File) {
	return func(cmd *exec.Cmd, _ *os.File) { cmd.Process.Signal(sig) }
}

// TestExitPaths ends a run with running workers, a cgroup and scratch
// files in every way it can end but SIGKILL: the spawns still running are
// stopped and collected (in the summary and --json, marked with the
// reason), the exit status says how it ended, and nothing is left.
func TestExitPaths(t *testing.T) {
	testenv.NeedCgroupV2(t)
	for _, tc := range []struct {
		name   string
		mode   string
		flags  []string
		env    []string
		end    func(*exec.Cmd, *os.File)
		code   int
		reason string
	}{
		{"timeout", "sleep", []string{"--timeout", "3s"}, nil, nil, 2, "timeout"},
		{"SIGINT", "sleep", nil, nil, signalEnd(syscall.SIGINT), 130, "SIGINT"},
		{"SIGTERM", "sleep", nil, nil, signalEnd(syscall.SIGTERM), 143, "SIGTERM"},
		{"SIGHUP", "sleep", nil, nil, signalEnd(syscall.SIGHUP), 129, "SIGHUP"},
		{"SIGQUIT", "sleep", nil, nil, signalEnd(syscall.SIGQUIT), 131, "SIGQUIT"},
		{"SIGQUIT with GOTRACEBACK", "sleep", nil, []string{"GOTRACEBACK=all"}, signalEnd(syscall.SIGQUIT), 131, "SIGQUIT"},
		{"SIGUSR1", "sleep", nil, nil, signalEnd(syscall.SIGUSR1), 138, "SIGUSR1"},
		{"stdout closed (| head -1)", "pipe", nil, nil, func(_ *exec.Cmd, stdout *os.File) { stdout.Close() }, 141, "SIGPIPE"},
		{"fail", "fail", nil, nil, nil, 1, "fail"},
		{"checks.require", "require", nil, nil, nil, 1, "checks.require"},
		{"script error", "error", nil, nil, nil, 2, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runToEnd(t, tc.mode, tc.env, tc.end, tc.flags...)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", res.code, tc.code, res.stderr)
			}
			var interrupted []starlib.Run
			for _, r := range res.doc.Runs {
				if r.Interrupted != "" {
					interrupted = append(interrupted, r.Run)
				}
			}
			if len(interrupted) != 2 || len(interrupted[0].Reports) != 1 || len(interrupted[1].Reports) != 2 {
				t.Fatalf("--json runs %+v, want the two running spawns collected (1 and 2 reports)", res.doc.Runs)
			}
			for _, r := range interrupted {
				if r.Interrupted != tc.reason {
					t.Errorf("run %d interrupted %q, want %q", r.Handle, r.Interrupted, tc.reason)
				}
				// An interrupted stop waits a short grace for the workers;
				// one that a loaded machine keeps from reporting in time is
				// killed and marked timed_out. Either way it is collected,
				// and assertNothingLeft has checked that it is gone.
				for _, rep := range r.Reports {
					if !rep.Completed && (rep.ExitInfo == nil || rep.ExitInfo.Kind != workload.ExitTimedOut) {
						t.Errorf("run %d worker %d neither completed nor timed out: %+v", r.Handle, rep.Tid, rep.ExitInfo)
					}
				}
			}
			// The summary marks their rows; --json keeps the stable labels.
			for _, r := range res.doc.Runs {
				if r.Interrupted == "" {
					continue
				}
				for _, g := range r.Groups {
					if label := g.Label + " (interrupted: " + tc.reason + ")"; strings.Contains(g.Label, "interrupted") || !strings.Contains(res.stderr, label) {
						t.Errorf("summary lacks %q, or --json's label %q is not the stable one:\n%s", label, g.Label, res.stderr)
					}
				}
			}
			dump := strings.Contains(res.stderr, "goroutine ")
			if want := len(tc.env) > 0; dump != want {
				t.Errorf("goroutine dump on stderr: %v, want %v:\n%s", dump, want, res.stderr)
			}
		})
	}
}

// TestScratchSweepAfterSIGKILL: a run killed with SIGKILL leaves its
// scratch files and run group; the next run that spawns a type with
// scratch files and uses cgroups removes both, and its own.
func TestScratchSweepAfterSIGKILL(t *testing.T) {
	testenv.NeedCgroupV2(t)
	scratch := t.TempDir()
	killed := runIn(t, scratch, "sleep", nil, signalEnd(syscall.SIGKILL), false)
	// Its workers die of their parent-death signal.
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range killed.workers {
		for {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(w))); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d outlived its SIGKILLed parent", w)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	left, _ := filepath.Glob(filepath.Join(scratch, "ktstar", "*"))
	if len(left) != 3 {
		t.Fatalf("after SIGKILL: scratch files %v, want 3 (nothing to sweep otherwise)", left)
	}
	next := runIn(t, scratch, "stop", nil, nil, true)
	if next.code != 0 {
		t.Fatalf("next run: exit %d: %s", next.code, next.stderr)
	}
	assertNothingLeft(t, killed.pid, killed.workers, scratch)
}

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

// workerLib is a module of custom functions that try what a worker may
// not do, and one that sleeps far past its stop.
const workerLib = `
def makes_group(ctx):
    cgroup.create("escape")

def spawns(ctx):
    spawn(workload(workers = 1))

def naps(ctx):
    sleep("10s")
    return {"woke": True}
`

// TestCustomFunctionConfined: a custom function in a worker cannot make
// cgroups or workers (the report says why, and no group appears), and the
// global sleep inside it ends at stop, so the worker completes.
func TestCustomFunctionConfined(t *testing.T) {
	main := scriptWith(t, `
load("lib.star", "makes_group", "spawns", "naps")
def run(fn):
    h = spawn(workload(workers = 1, work = work.custom("x", fn)))
    h.start()
    sleep("100ms")
    return h.stop()[0]
for fn, what in [(makes_group, "cgroup.create"), (spawns, "spawn")]:
    r = run(fn)
    e = r["exit_info"]
    if r["completed"] or what + ": not available inside a custom work function" not in e["error"]:
        fail(what, "was not refused:", r)
r = run(naps)
if not r["completed"] or r["extra"] != {"woke": True}:
    fail("sleep was not cut by stop:", r)
print("ok")
`, map[string]string{"lib.star": workerLib})
	before := runGroups(t)
	out, errs, code := ktstar(t, "", "-q", main)
	if code != 0 || out != "ok\n" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if after := runGroups(t); len(after) > len(before) {
		t.Errorf("groups made: %v", after)
	}
}

// runGroups lists the run groups below the cgroup v2 root (none without
// one).
func runGroups(t *testing.T) []string {
	root, err := cgroupfs.Default()
	if err != nil {
		return nil
	}
	g, _ := filepath.Glob(filepath.Join(root.Path(), cgroupfs.RunPrefix+"*"))
	return g
}

// TestWorkerMarker: only ktstar's own workers run as workers. An empty
// KTSTAR_WORKER is ignored; a marked process without the protocol's file
// descriptors exits 2 with one line.
func TestWorkerMarker(t *testing.T) {
	run := func(env string) (string, string, int) {
		cmd := exec.Command(bin, "version")
		cmd.Env = append(os.Environ(), env)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	if out, errs, code := run("KTSTAR_WORKER="); code != 0 || !strings.HasPrefix(out, "ktstar ") {
		t.Errorf("empty marker: exit %d, stdout %q, stderr %q; want the version", code, out, errs)
	}
	out, errs, code := run("KTSTAR_WORKER=1")
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "internal entry point") {
		t.Errorf("marked by hand: exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errs)
	}
}

// stoppedScript holds two workers in a group until the test adds a
// process to it, then stops them: the test has SIGSTOPped one, so the
// stop waits on it.
const stoppedScript = `
g = cgroup.create("s")
h = spawn(workload(workers = 2, work = work.yield_heavy()), cgroup = g)
h.start()
print(h.pids[0])
while len(g.pids()) < 3:
    sleep("10ms")
print("stopping")
h.stop()
print("stopped")
`

// interruption is one way a run is cut short: by --timeout (in flags) or
// by a signal sent to ktstar, with the exit status that follows and the
// reason --json records.
type interruption struct {
	name   string
	flags  []string
	sig    syscall.Signal
	code   int
	reason string
}

// TestInterruptDuringStop: --timeout or a signal that comes while stop()
// waits on a SIGSTOPped worker kills it at once instead of waiting out
// the 5 s stop deadline; the other worker's report is kept.
func TestInterruptDuringStop(t *testing.T) {
	testenv.NeedCgroupV2(t)
	for _, tc := range []interruption{
		{"SIGINT", nil, syscall.SIGINT, 130, "SIGINT"},
		{"timeout", []string{"--timeout", "2s"}, 0, 2, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			args := append([]string{"-q", "--json", out}, tc.flags...)
			t0 := time.Now()
			cmd, r, errb, victim := startForPid(t, append(args, script(t, stoppedScript))...)
			syscall.Kill(victim, syscall.SIGSTOP)
			group, _ := cgroupfs.ProcCgroup(victim)
			root, _ := cgroupfs.Default()
			addGoAhead(t, filepath.Join(root.Path(), group))
			if line, _ := r.ReadString('\n'); line != "stopping\n" {
				t.Fatalf("script said %q; stderr: %s", line, errb.String())
			}
			var sent time.Time
			if tc.sig != 0 {
				sent = time.Now()
				cmd.Process.Signal(tc.sig)
			}
			rest, _ := io.ReadAll(r)
			cmd.Wait()
			took := time.Since(sent)
			if tc.sig == 0 {
				took = time.Since(t0) - 2*time.Second // since the timeout, at the latest
			}
			t.Logf("ended %v after the interruption", took)
			if took >= 2*time.Second {
				t.Errorf("ended %v after the interruption: the stop waited out its deadline", took)
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.code || strings.Contains(string(rest), "stopped") {
				t.Errorf("exit %d, stdout %q; want %d, the script ended in stop; stderr: %s", code, rest, tc.code, errb.String())
			}
			var doc result.Doc
			readJSON(t, out, &doc)
			if len(doc.Runs) != 1 || doc.Runs[0].Interrupted != tc.reason || len(doc.Runs[0].Reports) != 2 {
				t.Fatalf("--json runs %+v, want one run of 2 reports interrupted by %s", doc.Runs, tc.reason)
			}
			for _, rep := range doc.Runs[0].Reports {
				if want := rep.Tid != victim; rep.Completed != want {
					t.Errorf("worker %d: completed %v, want %v (%+v)", rep.Tid, rep.Completed, want, rep.ExitInfo)
				}
			}
		})
	}
}

// badValuesLib returns floats JSON cannot carry and drives counts past
// what an int64 holds.
const badValuesLib = `
def bad(ctx):
    for _ in range(3):
        ctx.count("big", 1 << 62)
        ctx.add_units(1 << 62)
    ctx.tick()
    while not ctx.stopped():
        ctx.sleep("1ms")
    return {"nan": float("nan"), "inf": float("inf"), "ninf": -float("inf"), "ok": 1.5}
`

// TestBadValuesKeepTheReport: NaN and ±Inf in a custom function's dict
// and counts past 2^63 keep the whole report (in the script and in
// --json): the floats as strings, the counts saturated and flagged.
func TestBadValuesKeepTheReport(t *testing.T) {
	main := scriptWith(t, `
load("lib.star", "bad")
h = spawn(workload(workers = 1, work = work.custom("bad", bad)))
h.start()
sleep("50ms")
r = h.stop()[0]
if not r["completed"]:
    fail("report lost:", r["exit_info"])
if r["extra"] != {"nan": "NaN", "inf": "+Inf", "ninf": "-Inf", "ok": 1.5}:
    fail("extra", r["extra"])
if r["counters"]["big"] != (1 << 63) - 1 or r["work_units"] != (1 << 63) - 1 or r["saturated"] != ["big", "work_units"]:
    fail("counts", r["counters"], r["work_units"], r["saturated"])
print("ok")
`, map[string]string{"lib.star": badValuesLib})
	out, stdout, errs := runToJSON(t, "-q", main)
	if stdout != "ok\n" {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout, errs)
	}
	var doc result.Doc
	readJSON(t, out, &doc)
	r := doc.Runs[0].Reports[0]
	if r.Extra["nan"] != "NaN" || r.Counters["big"] != 1<<63-1 || len(r.Saturated) != 2 {
		t.Errorf("--json report: extra %v, counters %v, saturated %v", r.Extra, r.Counters, r.Saturated)
	}
}

// TestBoundedErrorOutput: a Starlark stack overflow shows its first and
// last frames and the count of the others; an error quoting a huge value
// quotes 200 characters of it.
func TestBoundedErrorOutput(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string
		maxBytes  int
	}{
		{"stack overflow", "def f(n):\n    return f(n + 1)\nf(0)\n", "frames elided", 3000},
		{"huge duration string", `sleep("x" * 100000)`, `more characters)`, 1000},
		{"huge parameter string", `work.futex_ping_pong(spin_iters = "y" * 100000)`, `more characters)`, 1000},
		{"huge parameter list", `work.numa_working_set_sweep(target_nodes = ["a"] * 100000)`, "want int", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := ktstar(t, "", script(t, tc.src))
			if code != 2 || !strings.Contains(errs, tc.want) || len(errs) > tc.maxBytes {
				t.Errorf("exit %d, %d bytes of stderr (at most %d), want %q in:\n%s", code, len(errs), tc.maxBytes, tc.want, clipForLog(errs))
			}
		})
	}
}

func clipForLog(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "..."
	}
	return s
}
