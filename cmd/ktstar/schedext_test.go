package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/scheduler"
	"github.com/ktstar/ktstar/vm"
)

// The guest tests of a real sched_ext kernel: the test bed make
// sched-ext-kit builds (a 6.12 kernel with CONFIG_SCHED_CLASS_EXT and the
// kernel's scx_simple and scx_qmap), booted with --kernel sched-ext-kit.

// schedExtKit returns the test bed, or skips t naming make sched-ext-kit
// (fails it under KTSTAR_REQUIRE_TOOLS, as CI builds the test bed first).
func schedExtKit(t *testing.T) vm.SchedExtKit {
	t.Helper()
	testenv.NeedQEMU(t, vm.DefaultQEMU)
	kit, err := vm.FindSchedExtKit()
	if err != nil {
		testenv.MissingTool(t, "guest test: %v", err)
	}
	return kit
}

// noneLeft fails t when the guest init saw processes outlive the run.
func noneLeft(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, vm.LeftMsg) {
		t.Errorf("stderr:\n%s\nwant nothing left in the guest after the run", stderr)
	}
}

// threeSteps is a 3-step scenario of DURATION whose steps print the
// scheduler's state as they begin (a step's cgroups function runs then).
// Its pipe_io pairs wake each other thousands of times a second: every
// wake-up is an enqueue for the BPF scheduler.
const threeSteps = `load("@stdlib//scenario.star", "hold", "op", "scenario", "step")
h = scheduler.current()
def probe(ctx):
    print("step", ctx.step + 1, h.state()["state"], h.state()["ops"])
    return []
w = workload(workers = 2, work = work.pipe_io())
scenario(duration = "DURATION", steps = [
    step(cgroups = probe, ops = [op.spawn_host(w)], hold = hold.frac(1.0 / 3))
    for _ in range(3)
])
print("survived", h.alive())
`

// steps returns threeSteps lasting d.
func steps(d string) string { return strings.Replace(threeSteps, "DURATION", d, 1) }

// TestGuestSchedExtSimple: scx_simple, dynamically linked (its libelf and
// zlib come along), is ready once sched_ext is enabled with ops simple,
// stays so through every step of a scenario, and the run's --json host
// facts name the ops; it is stopped afterwards.
func TestGuestSchedExtSimple(t *testing.T) {
	kit := schedExtKit(t)
	js := filepath.Join(t.TempDir(), "out.json")
	out, errs, code := ktstarVM(t, "", "--kernel", vm.SchedExtKitName, "--json", js, "--scheduler", kit.Simple, script(t, steps("1.5s")))
	if code != 0 || !strings.Contains(out, "survived True") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, k := range []string{"1", "2", "3"} {
		if !strings.Contains(out, "step "+k+" enabled simple\n") {
			t.Errorf("stdout:\n%s\nwant step %s to see sched_ext enabled with ops simple", out, k)
		}
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	want := scheduler.State{State: "enabled", Ops: "simple"}
	if doc.Host.SchedExt != want || doc.Host.Scheduler != "scx_simple (sched_ext, ops simple)" {
		t.Errorf("--json host: sched_ext %+v, scheduler %q; want %+v in charge", doc.Host.SchedExt, doc.Host.Scheduler, want)
	}
	if doc.Scheduler == nil || doc.Scheduler.State == nil || *doc.Scheduler.State != want || doc.Scheduler.ExitStatus == "" {
		t.Errorf("--json scheduler %+v: want it ready with ops simple, then stopped", doc.Scheduler)
	}
	if !strings.Contains(errs, "scheduler: scx_simple (sched_ext, ops simple)\n") {
		t.Errorf("stderr:\n%s\nwant the summary header naming scx_simple", errs)
	}
	noneLeft(t, errs)
}

// TestGuestSchedExtQmapError: scx_qmap -e 2000 calls scx_bpf_error()
// after 2,000 enqueues (an idle guest makes a few hundred a second, the
// scenario's pairs up to thousands), so the kernel disables it while the
// scenario runs. The scenario is long (90s) so that a loaded host, which
// slows the guest, cannot let it end first; the disable ends it within
// seconds. The run exits 1 with the step and the kernel's reason (from
// /dev/kmsg), --json records the fault, and nothing is left behind.
func TestGuestSchedExtQmapError(t *testing.T) {
	kit := schedExtKit(t)
	js := filepath.Join(t.TempDir(), "out.json")
	out, errs, code := ktstarVM(t, "", "--kernel", vm.SchedExtKitName, "--json", js,
		"--scheduler", kit.Qmap, "--scheduler-arg=-e", "--scheduler-arg=2000", script(t, steps("90s")))
	disabled := regexp.MustCompile(`sched_ext disabled during step [123]: BPF scheduler "qmap" disabled \(scx_bpf_error\); qmap: test triggering error`)
	if code != 1 || strings.Contains(out, "survived") || !disabled.MatchString(errs) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and %s", code, out, errs, disabled)
	}
	var doc result.Doc
	readJSON(t, js, &doc)
	if len(doc.SchedulerFaults) != 1 || doc.SchedulerFaults[0].Kind != "sched_ext" || doc.Scheduler == nil || doc.Scheduler.ExitStatus == "" {
		t.Fatalf("--json faults %+v, scheduler %+v: want one sched_ext fault and scx_qmap reaped", doc.SchedulerFaults, doc.Scheduler)
	}
	noneLeft(t, errs)
	t.Logf("stderr:\n%s", errs)
}

// extScript spawns sched.ext() workers, lets them run past one of
// scx_qmap's 1 s stats lines, and prints whether they got CPU time (not
// work units: SpinWait's PAUSE loop crawls under TCG) and where the
// kernel ran them.
const extScript = `h = spawn(workload(workers = 2, policy = sched.ext()))
sleep("1500ms")
reps = h.stop()
print("ran", [r["cpu_time_ns"] > 0 for r in reps])
print("class", sorted({r["sched_ext"]: 1 for r in reps}.keys()))
`

// TestGuestSchedExtWorkers: sched.ext() workers under scx_qmap -p (which
// takes only SCHED_EXT tasks) run on it, and its enqueue count shows it;
// with no BPF scheduler loaded the kernel accepts SCHED_EXT but keeps the
// workers in the fair class, and the report says so.
func TestGuestSchedExtWorkers(t *testing.T) {
	kit := schedExtKit(t)
	js := filepath.Join(t.TempDir(), "out.json")
	out, errs, code := ktstarVM(t, "", "--kernel", vm.SchedExtKitName, "--json", js,
		"--scheduler", kit.Qmap, "--scheduler-arg=-p", script(t, extScript))
	if code != 0 || !strings.Contains(out, "ran [True, True]\n") || !strings.Contains(out, `class ["ext: BPF scheduler qmap"]`) {
		t.Fatalf("under scx_qmap -p: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "sched.ext() workers ran in ext: BPF scheduler qmap\n") {
		t.Errorf("stderr:\n%s\nwant the summary's note on the BPF scheduler", errs)
	}
	// With -p only SCHED_EXT tasks reach qmap_enqueue: the workers did.
	var doc result.Doc
	readJSON(t, js, &doc)
	enq := regexp.MustCompile(`stats\s*: enq=([1-9][0-9]*) `)
	if doc.Scheduler == nil || !enq.MatchString(strings.Join(doc.Scheduler.Output, "\n")) {
		t.Errorf("--json scheduler %+v: want a stats line with enq > 0", doc.Scheduler)
	}
	noneLeft(t, errs)

	out, errs, code = ktstarVM(t, "", "--kernel", vm.SchedExtKitName, script(t, extScript))
	fair := "fair: no BPF scheduler loaded (sched_ext disabled)"
	if code != 0 || !strings.Contains(out, "ran [True, True]\n") || !strings.Contains(out, `class ["`+fair+`"]`) ||
		!strings.Contains(errs, "sched.ext() workers ran in "+fair+"\n") {
		t.Fatalf("without a BPF scheduler: exit %d\nstdout:\n%s\nstderr:\n%s\nwant the workers run in the fair class, said so", code, out, errs)
	}
	noneLeft(t, errs)
}
