package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/standin"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/scheduler"
)

// TestRunScheduler runs a script under --scheduler with the stand-in: the
// script sees it as scheduler.current(), its output is streamed with a
// prefix and kept in --json, and it is stopped after the run.
func TestRunScheduler(t *testing.T) {
	bin := standin.Build(t)
	js := filepath.Join(t.TempDir(), "out.json")
	s := script(t, "h = scheduler.current()\nprint(h.name, h.alive(), h.pid)\n")
	out, errs, code := ktstar(t, "", "--json", js, "--scheduler", bin, "--scheduler-ready", "line:ready pid", s)
	if code != 0 || !strings.HasPrefix(out, "stand-in True ") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "[stand-in] stand-in: ready pid") {
		t.Errorf("stderr %q: want the stand-in's output with a prefix", errs)
	}
	pid, _ := strconv.Atoi(strings.Fields(out)[2])
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("the stand-in (pid %d) outlived ktstar", pid)
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	if doc.Scheduler == nil || doc.Scheduler.Pid != pid || doc.Scheduler.ExitStatus != "exit status 0" ||
		doc.Scheduler.Output[len(doc.Scheduler.Output)-1] != "stand-in: SIGINT, stopping" {
		t.Fatalf("--json scheduler = %+v, want the stand-in stopped by SIGINT with its output", doc.Scheduler)
	}
}

// TestRunSchedulerRepeat: --scheduler starts once for every repetition of
// --repeat; each repetition's script sees the same process, and the one
// --json document records it.
func TestRunSchedulerRepeat(t *testing.T) {
	bin := standin.Build(t)
	js := filepath.Join(t.TempDir(), "out.json")
	s := script(t, "print(scheduler.current().pid)\n")
	out, errs, code := ktstar(t, "", "--json", js, "--repeat", "2", "--scheduler", bin, "--scheduler-ready", "line:ready pid", s)
	pids := strings.Fields(out)
	if code != 0 || len(pids) != 2 || pids[0] != pids[1] {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant one pid printed by each of 2 repetitions", code, out, errs)
	}
	if n := strings.Count(errs, "[stand-in] stand-in: ready pid"); n != 1 {
		t.Errorf("stderr:\n%s\nwant the stand-in ready once, got %d times", errs, n)
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	if doc.Repeat != 2 || doc.Scheduler == nil || strconv.Itoa(doc.Scheduler.Pid) != pids[0] {
		t.Fatalf("--json repeat %d, scheduler %+v: want 2 repetitions under pid %s", doc.Repeat, doc.Scheduler, pids[0])
	}
}

// TestRunSchedulerFails: the --scheduler failures that need no sched_ext
// kernel, each exit 2 before the script runs, with a clear message.
func TestRunSchedulerFails(t *testing.T) {
	bin := standin.Build(t)
	s := script(t, "print('script ran')\n")
	// want: pieces of stderr.
	type failCase struct {
		name       string
		args, want []string
	}
	tests := []failCase{
		{"early exit", []string{"--scheduler", bin, "--scheduler-arg=--exit-after=0ms", "--scheduler-ready", "line:never"},
			[]string{"ktstar: --scheduler: scheduler stand-in exited before it was ready (exit status 3)", "| stand-in: exiting after 0ms as asked"}},
		{"timeout", []string{"--scheduler", bin, "--scheduler-ready", "line:never", "--scheduler-timeout", "300ms"},
			[]string{`scheduler stand-in not ready after 300ms: waited for a line matching "never"`}},
		{"bad ready", []string{"--scheduler", bin, "--scheduler-ready", "soon"}, []string{"want sched_ext, running or line:REGEX"}},
		{"missing", []string{"--scheduler", "/nonexistent/scx", "--scheduler-ready", "running"}, []string{"start /nonexistent/scx"}},
	}
	if _, err := os.Stat("/sys/kernel/sched_ext"); err != nil {
		tests = append(tests, failCase{"no sched_ext", []string{"--scheduler", bin}, []string{scheduler.NoSchedExtMsg}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstar(t, "", append(tc.args, s)...)
			if code != 2 || strings.Contains(out, "script ran") {
				t.Fatalf("exit %d, stdout %q: want 2 and the script not run\nstderr:\n%s", code, out, errs)
			}
			wantAll(t, "stderr", errs, tc.want...)
		})
	}
}

// TestGuestScheduler carries the stand-in, built with gcc and so
// dynamically linked, into a guest with --scheduler: it runs there with
// its libraries, the script sees it, and its output comes back prefixed.
// Debian's cloud kernel has no sched_ext, so the default readiness fails
// at once, saying so.
func TestGuestScheduler(t *testing.T) {
	guestOrSkip(t)
	bin := standin.Build(t)
	s := script(t, "h = scheduler.current()\nprint('guest', h.name, h.alive(), h.state())\n")
	out, errs, code := ktstarVM(t, "", "--scheduler", bin, "--scheduler-ready", "running", s)
	if code != 0 || !strings.Contains(out, `guest stand-in True {"state": "none", "ops": ""}`) ||
		!strings.Contains(errs, "[stand-in] stand-in: ready pid") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	out, errs, code = ktstarVM(t, "", "--scheduler", bin, s)
	if code != 2 || strings.Contains(out, "guest") || !strings.Contains(errs, scheduler.NoSchedExtMsg) {
		t.Fatalf("default readiness without sched_ext: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestGuestSchedulerDies is the acceptance run: the stand-in exits
// 700ms after it starts, during a 3-step scenario of 1.5s; the run exits 1
// naming the step and the stand-in's last line, and --json records it.
func TestGuestSchedulerDies(t *testing.T) {
	guestOrSkip(t)
	bin := standin.Build(t)
	s := script(t, `load("@stdlib//scenario.star", "hold", "op", "scenario", "step")
w = workload(workers = 1)
scenario(duration = "1.5s", steps = [
    step(ops = [op.spawn_host(w)], hold = hold.frac(1.0 / 3)),
    step(ops = [op.spawn_host(w)], hold = hold.frac(1.0 / 3)),
    step(ops = [op.spawn_host(w)], hold = hold.frac(1.0 / 3)),
])
print("survived")
`)
	js := filepath.Join(t.TempDir(), "out.json")
	out, errs, code := ktstarVM(t, "", "--json", js, "--scheduler", bin, "--scheduler-ready", "running", "--scheduler-arg", "--exit-after=700ms", s)
	died := regexp.MustCompile(`scheduler stand-in died during step [123] \(exit status 3\); its last output line: stand-in: exiting after 700ms as asked`)
	if code != 1 || strings.Contains(out, "survived") || !died.MatchString(errs) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and %s", code, out, errs, died)
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	if len(doc.SchedulerFaults) != 1 || doc.SchedulerFaults[0].Kind != "died" || doc.Scheduler.ExitStatus != "exit status 3" {
		t.Fatalf("--json faults %+v, scheduler %+v", doc.SchedulerFaults, doc.Scheduler)
	}
	t.Logf("stderr:\n%s", errs)
}

// TestHostSchedFacts: --json's host names the scheduler facts of this
// machine, read before the script, and the summary's header the scheduler
// in charge.
func TestHostSchedFacts(t *testing.T) {
	bin := standin.Build(t)
	js := filepath.Join(t.TempDir(), "out.json")
	s := script(t, "h = spawn(workload(workers = 1))\nsleep('50ms')\nh.stop()\n")
	_, errs, code := ktstar(t, "", "--json", js, "--scheduler", bin, "--scheduler-ready", "running", s)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	h := doc.Host
	cmdline, _ := os.ReadFile("/proc/cmdline")
	if h.Cmdline != strings.TrimSpace(string(cmdline)) || !strings.HasPrefix(h.Scheduler, "stand-in (sched_ext") || h.Preemption == "" {
		t.Errorf("host %+v: want /proc/cmdline, the stand-in in charge and a preemption model", h)
	}
	if h.CgroupMode != "v1" && h.CgroupMode != "v2" && h.CgroupMode != "hybrid" {
		t.Errorf("cgroup mode %q", h.CgroupMode)
	}
	want, _ := scheduler.ReadState(os.DirFS(scheduler.SysFS))
	if h.SchedExt != want {
		t.Errorf("sched_ext %+v, want %+v", h.SchedExt, want)
	}
	if rr, err := os.ReadFile("/proc/sys/kernel/sched_rr_timeslice_ms"); err == nil && h.Tunables["kernel.sched_rr_timeslice_ms"] != strings.TrimSpace(string(rr)) {
		t.Errorf("tunables %v: want kernel.sched_rr_timeslice_ms", h.Tunables)
	}
	if head := "scheduler: " + h.Scheduler + "\n"; !strings.Contains(errs, head) {
		t.Errorf("stderr:\n%s\nwant the header %q", errs, head)
	}
}

func TestInCharge(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  scheduler.State
		want string
	}{
		{"", scheduler.State{}, ""},
		{"scx_simple", scheduler.State{State: "enabled", Ops: "simple"}, "scx_simple (sched_ext, ops simple)"},
		{"stand-in", scheduler.State{State: "none"}, "stand-in (sched_ext none)"},
		{"", scheduler.State{State: "enabled", Ops: "qmap"}, "sched_ext ops qmap"},
		{"", scheduler.State{State: "none"}, "the kernel's own (no sched_ext)"},
		{"", scheduler.State{State: "disabled"}, "the kernel's own (sched_ext disabled)"},
	} {
		if got := inCharge(tc.name, tc.ext); got != tc.want {
			t.Errorf("inCharge(%q, %+v) = %q, want %q", tc.name, tc.ext, got, tc.want)
		}
	}
}
