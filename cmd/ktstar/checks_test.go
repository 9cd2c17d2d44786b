package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ktstar/ktstar/internal/ptytest"
	"github.com/ktstar/ktstar/internal/testenv"
)

// TestRequireFails checks the failure of checks.require on a real run:
// exit status 1, and a message naming the check, the threshold, the
// observed value and the worst worker.
func TestRequireFails(t *testing.T) {
	s := script(t, `load("@stdlib//run.star", "wait_progress")
h = spawn(workload(workers = 2, work = work.spin_wait()))
h.start()
print(" ".join([str(p) for p in h.pids]))
wait_progress(h, "100ms")
reports = h.stop()
checks.require(reports, max_gap_ms = 1e9, min_iteration_rate = 1e15)
print("not reached")
`)
	out, errs, code := ktstar(t, "", "--color=never", s)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitFail, errs)
	}
	pids := strings.Fields(out)
	if len(pids) != 2 || strings.Contains(out, "not reached") {
		t.Fatalf("stdout %q", out)
	}
	msg := regexp.MustCompile(`s\.star:7:15: error: checks\.require: 1 check\(s\) failed:\n` +
		`  min_iteration_rate \[SpinWait\]: FAIL, observed [0-9.e+]+ iter/s, threshold ≥ 1e\+15 iter/s; worst worker tid (\d+) \(group 0\)\n` +
		`Traceback`)
	m := msg.FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("stderr does not match %s:\n%s", msg, errs)
	}
	if m[1] != pids[0] && m[1] != pids[1] {
		t.Errorf("worst worker %s is not one of the workers %v", m[1], pids)
	}
	// The summary before the error lists the checks of the call too.
	if !strings.Contains(errs, "✓ max_gap_ms [SpinWait]: PASS") || !strings.Contains(errs, "✗ min_iteration_rate [SpinWait]: FAIL") {
		t.Errorf("summary lacks the check lines:\n%s", errs)
	}
}

// TestCheckFamiliesRealRuns observes checks on real workers through the
// binary: each script prints check=status for its outcomes.
func TestCheckFamiliesRealRuns(t *testing.T) {
	cpus := testenv.CPUs(t, 2)
	a, b := strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1])
	const show = `load("@stdlib//run.star", "wait_progress")
def show(res):
    print(" ".join(["%s=%s" % (o["check"], o["status"]) for o in res.outcomes]))
`
	const pinned = `
h = spawn(workload(workers = 2, affinity = affinity.exact([int(params["pin"])])))
h.start()
wait_progress(h, "100ms")
show(checks.evaluate(h.stop(), isolation = True, cpuset = params["cpuset"]))
`
	for _, tc := range []struct {
		name string
		src  string
		args []string
		want string
	}{
		{"isolation inside the expected cpuset", pinned, []string{"--set", "pin=" + a, "--set", "cpuset=" + a}, "isolation=pass"},
		{"isolation outside the expected cpuset", pinned, []string{"--set", "pin=" + b, "--set", "cpuset=" + a}, "isolation=fail"},
		{"wake latency, samples and rates", `
h = spawn(workload(workers = 2, work = work.futex_ping_pong()))
h.start()
wait_progress(h, "100ms")
r = h.stop()
show(checks.evaluate(r, max_p99_wake_latency_ns = 1, max_wake_latency_cv = 1000, min_iteration_rate = 0, min_work_rate = 1e18))
`, nil, "min_work_rate=fail max_p99_wake_latency_ns=fail max_wake_latency_cv=pass min_iteration_rate=pass"},
		{"no wake samples is a skip", `
h = spawn(workload(workers = 1))
h.start()
wait_progress(h, "50ms")
show(checks.evaluate(h.stop(), max_p99_wake_latency_ns = 1))
`, nil, "max_p99_wake_latency_ns=skip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstar(t, "", append(append([]string{"-q"}, tc.args...), script(t, show+tc.src))...)
			if code != 0 || strings.TrimSpace(out) != tc.want {
				t.Fatalf("exit %d, stdout %q, want %q\nstderr:\n%s", code, out, tc.want, errs)
			}
		})
	}
}

// TestNotStarvedKilledWorker SIGKILLs one worker of a Bursty group while
// the script holds: not_starved fails and names it; the group of the
// other handle, left alone, passes.
func TestNotStarvedKilledWorker(t *testing.T) {
	s := script(t, `load("@stdlib//run.star", "wait_progress")
w = workload(workers = 2, work = work.bursty(burst_duration = "5ms", sleep_duration = "5ms"))
ok, hit = spawn(w), spawn(w)
ok.start()
hit.start()
print(hit.pids[0])
wait_progress(ok, "500ms")
checks.require({"ok": ok.stop(), "hit": hit.stop()}, not_starved = True, max_spread_pct = False, max_gap_ms = False)
`)
	cmd, line, errb := startScript(t, "--color=never", s)
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	errs := errb.String()
	if code := cmd.ProcessState.ExitCode(); code != exitFail {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitFail, errs)
	}
	want := "  not_starved [hit]: FAIL, observed 1 workers; worst worker tid " + strconv.Itoa(pid) + " (group 0): 1 of 2 workers did no work (first: exit_info signaled 9)"
	if !strings.Contains(errs, "checks.require: 1 check(s) failed:\n"+want+"\n") || !strings.Contains(errs, "✓ not_starved [ok]: PASS") {
		t.Errorf("stderr lacks %q and the passing group:\n%s", want, errs)
	}
}

// holdScript runs two handles through two holds and prints in between.
const holdScript = `
a = spawn(workload(workers = 2))
b = spawn(workload(workers = 2, work = work.futex_ping_pong()))
a.start()
sleep("800ms")
b.start()
print("between holds")
sleep("800ms")
a.stop()
b.stop()
print("done")
`

// TestProgressOnATerminal runs the binary with stderr on a pseudo-terminal:
// the progress lines are redrawn in place, one line per running handle
// plus the elapsed line, and erased at the end of each hold, before the
// script prints and before the summary.
func TestProgressOnATerminal(t *testing.T) {
	master, slave := ptytest.Open(t)
	cmd := exec.Command(bin, "--color=never", script(t, holdScript))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	slave.Close() // the child holds its own copy; EOF (EIO) once it exits
	screen, _ := io.ReadAll(master)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, screen)
	}
	if out.String() != "between holds\ndone\n" {
		t.Errorf("stdout %q: progress must never reach it", out.String())
	}
	s := strings.ReplaceAll(string(screen), "\r\n", "\n") // the tty's output processing
	first, second, ok := strings.Cut(s, "/ 800ms\n\x1b[2K  SpinWait: 2 workers")
	if !ok {
		t.Fatalf("no progress line for the first hold:\n%q", s)
	}
	_ = first
	// Hold 1 shows one handle (2 lines a frame), hold 2 both (3 lines).
	hold1, hold2, ok := strings.Cut(second, "\x1b[J")
	if !ok {
		t.Fatalf("the first hold's lines were never erased:\n%q", s)
	}
	if strings.Contains(hold1, "FutexPingPong") {
		t.Errorf("a handle not yet started is shown: %q", hold1)
	}
	frames2 := strings.Count(hold2, "/ 800ms\n")
	if frames2 < 1 || strings.Count(hold2, "  FutexPingPong: 2 workers") != frames2 {
		t.Errorf("hold 2: %d frames, want each with a line for #2:\n%q", frames2, hold2)
	}
	summary := strings.Index(s, "  group ")
	lastClear := strings.LastIndex(s, "\x1b[3A\r\x1b[J")
	if summary < 0 || lastClear < 0 || lastClear > summary {
		t.Errorf("the last hold's 3 lines must be erased before the summary:\n%q", s)
	}
	if strings.Count(s[summary:], "\x1b[") != 0 {
		t.Errorf("escape codes after the progress ended:\n%q", s[summary:])
	}
}

// TestNoProgressWithoutTerminal checks that a run with stderr on a pipe
// draws no progress, and that --progress forces it there as plain lines,
// one per --interval, without a single escape byte.
func TestNoProgressWithoutTerminal(t *testing.T) {
	s := script(t, holdScript)
	_, errs, code := ktstar(t, "", s)
	if code != 0 || strings.Contains(errs, "\x1b[") || strings.Contains(errs, "/ 800ms") {
		t.Errorf("exit %d; progress on a pipe:\n%q", code, errs)
	}
	_, errs, code = ktstar(t, "", "--progress", "--interval", "200ms", s)
	if code != 0 || strings.Contains(errs, "\x1b") {
		t.Errorf("exit %d; escape codes on a pipe:\n%q", code, errs)
	}
	lines := regexp.MustCompile(`(?m)^progress [0-9.]+m?s / 800ms; SpinWait: [0-9.]+[kMG]? iterations/s`).FindAllString(errs, -1)
	both := regexp.MustCompile(`(?m)^progress .*; SpinWait: .*; FutexPingPong: [0-9.]+[kMG]? iterations/s$`).FindAllString(errs, -1)
	if len(lines) < 2 || len(both) < 1 {
		t.Errorf("want plain progress lines for both holds, got %d and %d:\n%s", len(lines), len(both), errs)
	}
	// --progress 2>log: stderr is a file.
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "--progress", "--interval", "200ms", s)
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log.Name())
	if err != nil || bytes.IndexByte(b, 0x1b) >= 0 || !bytes.Contains(b, []byte("\nprogress ")) && !bytes.HasPrefix(b, []byte("progress ")) {
		t.Errorf("--progress 2>log: %v; want plain progress lines without ESC:\n%q", err, b)
	}
}

// TestSummaryColor checks that passes are green and failures red with
// --color=always, and that --color=never writes no escape codes.
func TestSummaryColor(t *testing.T) {
	s := script(t, `checks.evaluate({"a": [{"tid": 1, "work_units": 1}], "b": [{"tid": 2}]}, not_starved = True)`+"\n")
	_, errs, code := ktstar(t, "", "--color=always", s)
	if code != 0 || !strings.Contains(errs, "\x1b[32m✓ not_starved [a]: PASS") || !strings.Contains(errs, "\x1b[31;1m✗ not_starved [b]: FAIL") {
		t.Errorf("exit %d, want green and red lines:\n%q", code, errs)
	}
	_, errs, _ = ktstar(t, "", "--color=never", s)
	if strings.Contains(errs, "\x1b[") || !strings.Contains(errs, "✗ not_starved [b]: FAIL") {
		t.Errorf("--color=never:\n%q", errs)
	}
}
