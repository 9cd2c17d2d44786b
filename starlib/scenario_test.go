package starlib_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

const loadScenario = `load("@stdlib//scenario.star", "backdrop", "cgroup_def", "hold", "op", "scenario", "step", "work_spec")
`

// runGroupGlob matches this process's run groups (ktstar-<pid>-<run id>),
// whether or not one exists; tests skip without root or a cgroup v2
// hierarchy.
func runGroupGlob(t *testing.T) string {
	t.Helper()
	testenv.NeedCgroupV2(t)
	root, err := cgroupfs.Default()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root.Path(), fmt.Sprintf("%s%d-*", cgroupfs.RunPrefix, os.Getpid()))
}

// exec runs src as a script file in a fresh session with the assert
// module, then closes the session and checks that the run group is gone.
// It returns the output and the script's error.
func exec(t *testing.T, ctx context.Context, src string, tp *topo.Topology) (string, error) {
	t.Helper()
	glob := runGroupGlob(t)
	path := filepath.Join(t.TempDir(), "s.star")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sess := starlib.NewSession(starlib.Options{Topology: tp})
	var out strings.Builder
	_, err := testHost(t, sess, &out).Run(ctx, path)
	sess.Close()
	if cerr := sess.CleanupErr(); cerr != nil {
		t.Errorf("cleanup: %v", cerr)
	}
	if left, _ := filepath.Glob(glob); len(left) > 0 {
		t.Errorf("run groups %v still exist after Close", left)
	}
	return out.String(), err
}

// TestConstructorErrors checks the errors of the cpus, affinity, cgroup
// and scenario constructors: each names the function, the value and what
// is allowed, and is a script error, not a fail().
func TestConstructorErrors(t *testing.T) {
	smt := testenv.Topology(t, "two-socket-smt") // 16 CPUs, usable 0-14, 2 LLCs and nodes
	one := testenv.Topology(t, "this-host")      // 2 CPUs, no SMT
	type errCase struct{ name, src, want string }
	for _, group := range []struct {
		topo   *topo.Topology
		prefix string // loadScenario for the scenario module's constructors
		cases  []errCase
	}{
		{smt, "", []errCase{
			{"llc index", "cpus.llc(2)", "cpus.llc: invalid workload config: cpuset llc(2): LLC index 2 does not exist (this machine has 2 LLCs: allowed 0..1)"},
			{"numa node", "cpus.numa(5)", "NUMA node 5 does not exist (nodes: 0-1)"},
			{"more partitions than CPUs", "cpus.disjoint(0, 16)", "16 partitions but only 15 usable CPUs (0-14); use at most 15 partitions"},
			{"partition index", "cpus.disjoint(2, 2)", "index = 2 is out of range (allowed: 0..1)"},
			{"no partitions", "cpus.overlap(0, 0, 0.5)", "of = 0 partitions (allowed: at least 1)"},
			{"range order", "cpus.range(0.5, 0.5)", "start = 0.5 must be below end = 0.5"},
			{"range bound", "cpus.range(0, 2)", "end = 2 is out of range (allowed: a fraction in 0..1)"},
			{"range type", `cpus.range("a", 1)`, "cpus.range: start: want a fraction (a float in 0..1), got string"},
			{"overlap frac", "cpus.overlap(0, 2, 1.5)", "frac = 1.5 is out of range"},
			{"exact empty", "cpus.exact([])", "the CPU list is empty; list CPUs, or clear the cpuset instead"},
			{"exact missing CPU", "cpus.exact([99])", "CPU 99 does not exist on this machine (CPUs: 0-15)"},
			{"exact type", "cpus.exact(3)", "cpus: want a list of ints"},
			{"topo.cpuset type", "topo.cpuset(5)", "topo.cpuset: want a cpuset"},
			{"affinity takes no arguments", "affinity.single_cpu(1)", "single_cpu: got 1 arguments, want at most 0"},
			{"topology-aware affinity at plain spawn", "spawn(workload(workers = 1, affinity = affinity.llc_aligned()))", "affinity llc_aligned() requires scenario context"},
			{"spawn cgroup type", "spawn(workload(workers = 1), cgroup = 3)", "cgroup: want a cgroup (cgroup.create) or None, got int"},
			{"cgroup name", `cgroup.create("../x")`, `cgroup.create("../x"): cgroupfs: invalid group name`},
			{"cgroup twice", `cgroup.create("a"); cgroup.create("a")`, `cgroup.create("a"): a group of that name exists already in this run (names: [a])`},
			{"cgroup removed", `g = cgroup.create("a"); g.remove(); g.pids()`, `pids: cgroup "a" was removed`},
			{"create limit", `cgroup.create("a", pids_max = 0)`, `cgroup.create("a"): pids_max = 0 is out of range`},
		}},
		{one, "", []errCase{
			{"smt pair without SMT", `spawn(workload(workers = 1, affinity = affinity.smt_sibling_pair()), cgroup = cgroup.create("x"))`, `cgroup "x": invalid workload config: affinity smt_sibling_pair(): no core has two SMT siblings in the cgroup's <no cpuset>: this machine has no SMT siblings`},
		}},
		{smt, loadScenario, []errCase{
			{"hold frac", "hold.frac(0)", "hold.frac: f = 0 is out of range (allowed: a finite number above 0)"},
			{"hold frac nan", `hold.frac(float("nan"))`, "hold.frac: f = nan is out of range"},
			{"hold fixed", `hold.fixed("-1s")`, "hold.fixed: d = -1s is out of range (allowed: 0s or more)"},
			{"hold fixed type", "hold.fixed(3)", `hold.fixed: want a duration (time.second or "50ms"), got int`},
			{"hold loop", `hold.loop("0s")`, "hold.loop: interval = 0s is out of range (allowed: more than 0s)"},
			{"step hold", "step(hold = 1)", "step: hold: want hold.frac(f), hold.fixed(d) or hold.loop(d), got 1"},
			{"step cgroups", "step(cgroups = [1])", "step: cgroups[0]: want a cgroup_def, got 1"},
			{"cgroup_def name", `cgroup_def("")`, `cgroup_def: name: want a non-empty string, got ""`},
			{"cgroup_def workers", `cgroup_def("a", workers = 0)`, `cgroup_def("a"): workers = 0 is out of range (allowed: 1 or more; None for workers_per_cgroup)`},
			{"cgroup_def cpuset", `cgroup_def("a", cpuset = 3)`, `cgroup_def("a"): cpuset: want a cpuset`},
			{"workers and workers_pct", `cgroup_def("a", workers = 2, workers_pct = 0.5)`, `cgroup_def("a"): workers = 2 and workers_pct = 0.5 are both set; pick one`},
			{"workers_pct fanned into works[0]", `cgroup_def("a", works = [work_spec(workers = 2)], workers_pct = 0.5)`, `cgroup_def("a"): workers = 2 and workers_pct = 0.5 are both set; pick one`},
			{"workers_pct range", `work_spec(workers_pct = 0)`, `work_spec: workers_pct = 0 is out of range (allowed: a finite fraction of the cpuset's CPUs above 0; 1.0 is one per CPU)`},
			{"workers_pct nan", `work_spec(workers_pct = float("nan"))`, `work_spec: workers_pct = nan is out of range`},
			{"works", `cgroup_def("a", works = [workload(workers = 1)])`, `cgroup_def("a"): works[0]: want a work_spec, got workload(`},
			{"swappable", `cgroup_def("a", swappable = 1)`, `cgroup_def("a"): swappable: want True or False, got int`},
			{"work_override", `scenario(steps = [], work_override = 3)`, `scenario: work_override: want a work value or a work type's name, got int`},
			{"work_override name", `scenario(steps = [], work_override = "Spinn")`, `from_name: unknown work type "Spinn"; known types: SpinWait`},
			{"cpu_weight", `cgroup_def("a", cpu_weight = 0)`, `cgroup_def("a"): cpu_weight: 0 is out of range (allowed: 1..10000)`},
			{"cpu_max period", `cgroup_def("a", cpu_max = ("20ms", "2s"))`, `cgroup_def("a"): cpu_max: period = 2s is out of range (allowed: 1ms..1s)`},
			{"cpu_max quota", `cgroup_def("a", cpu_max = ("0s", "100ms"))`, `cpu_max: quota = 0s is out of range (allowed: 1ms or more; leave cpu_max unset for no limit)`},
			{"cpu_max shape", `cgroup_def("a", cpu_max = "20ms")`, `cpu_max: want (quota, period), e.g. ("20ms", "100ms")`},
			{"memory_max", `cgroup_def("a", memory_max = -5)`, `memory_max: -5 is out of range (allowed: 0 or more, or "max")`},
			{"memory_high", `cgroup_def("a", memory_high = "lots")`, `memory_high: want an int or "max", got "lots"`},
			{"io_weight", `cgroup_def("a", io_weight = 10001)`, `io_weight = 10001 is out of range (allowed: 1..10000)`},
			{"pids_max", `cgroup_def("a", pids_max = 0)`, `pids_max = 0 is out of range (allowed: 1 or more, or unlimited)`},
			{"cpuset_mems", `cgroup_def("a", cpuset_mems = [])`, `cpuset_mems: the node list is empty`},
			{"unknown limit", `cgroup_def("a", cpu_weigth = 5)`, `cgroup_def("a"): unknown limit "cpu_weigth" (limits: cpu_weight, cpu_max,`},
			{"op spawn", `op.spawn("a", 3)`, "op.spawn: want a workload (workload(workers = ...)), got int"},
			{"op move to itself", `op.move_all_tasks("a", "a")`, `op.move_all_tasks: src and dst are both "a"`},
			{"scenario checks", "scenario(steps = [], checks = 3)", "scenario: checks: want a dict of check settings or checks.settings, got int"},
			{"step checks", `step(checks = {"max_gapms": 5})`, `step: checks: unknown check "max_gapms" (checks: `},
			{"cgroup_def checks", `cgroup_def("a", checks = {"max_gap_ms": True})`, `cgroup_def("a"): checks: max_gap_ms = True: want a threshold in ms`},
			{"scenario workers", "scenario(steps = [], workers_per_cgroup = 0)", "scenario: workers_per_cgroup = 0 is out of range"},
			{"unknown cgroup", `scenario(steps = [step(ops = [op.set_cpuset("nope", [0])])])`, `op.set_cpuset: no cgroup "nope" in this scenario (cgroups: none)`},
		}},
		{one, loadScenario, []errCase{
			{"step cgroups function", `scenario(duration = "10ms", steps = [step(cgroups = lambda ctx: [ctx.step])])`, `step 0: cgroups(ctx)[0]: want a cgroup_def, got 0`},
			{"declared twice", `scenario(duration = "10ms", steps = [step(cgroups = [cgroup_def("a"), cgroup_def("a")])])`, `cgroup_def("a"): a cgroup of that name exists already in this scenario; declare it in exactly one place`},
		}},
	} {
		for _, tc := range group.cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := exec(t, context.Background(), group.prefix+tc.src+"\n", group.topo)
				var fe *starlib.FailError
				if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &fe) {
					t.Fatalf("error:\n%v\nwant a script error containing:\n%s", err, tc.want)
				}
			})
		}
	}
}

// TestCpusetUnavailable checks that a cpuset is a clear error, never a
// silent no-op, where the v2 hierarchy lacks the controller.
func TestCpusetUnavailable(t *testing.T) {
	_, err := exec(t, context.Background(), `
if cgroup.cpuset_available():
    print("available")
else:
    reason = cgroup.cpuset_reason()
    assert.true(reason)
    assert.fails(lambda: cgroup.create("a", cpuset = cpus.exact(topo.cpus[:1])), "cpusets are not available \\(check cgroup.cpuset_available\\(\\) first\\)")
    g = cgroup.create("b")
    assert.fails(lambda: g.set_cpuset(topo.cpus[:1]), "cpusets are not available")
    assert.fails(lambda: g.clear_cpuset(), "cpusets are not available")
    print("unavailable:", reason)
`, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestCgroupWorkers checks that workers start inside their group (the
// report's cgroup, read by the worker before its loop), that the groups
// exist while the script runs and that Close removes them.
func TestCgroupWorkers(t *testing.T) {
	glob := runGroupGlob(t)
	out, err := exec(t, context.Background(), fmt.Sprintf(`
a = cgroup.create("a")
b = cgroup.create("b/c")
assert.true(a.path.startswith("/ktstar-%d-") and a.path.endswith("/a"))
assert.eq(b.name, "b/c")
ha = spawn(workload(workers = 2), cgroup = a)
hb = spawn(workload(workers = 1, work = work.yield_heavy()), cgroup = b)
assert.eq(sorted(a.pids()), sorted(ha.pids))
assert.eq(b.pids(), hb.pids)
ha.start()
hb.start()
sleep("50ms")
assert.eq([r["cgroup"] for r in ha.stop()], [a.path, a.path])
assert.eq([r["cgroup"] for r in hb.stop()], [b.path])
assert.eq(a.pids(), [])
b.remove()
assert.fails(lambda: b.pids(), "was removed")
m = spawn(workload(workers = 1))
a.move(m)
assert.eq(a.pids(), m.pids)
print(a.dir)
`, os.Getpid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); !matches(filepath.Join(glob, "a"), got) {
		t.Errorf("a.dir = %q, want %s", got, filepath.Join(glob, "a"))
	}
}

func matches(pattern, name string) bool {
	ok, err := filepath.Match(pattern, name)
	return ok && err == nil
}

// TestCleanupOnEveryExit ends scripts half-way, with workers running in
// groups: by fail(), by an error and by cancellation (what SIGINT does).
// exec checks that no group is left.
func TestCleanupOnEveryExit(t *testing.T) {
	const setup = `
g = cgroup.create("busy")
h = spawn(workload(workers = 2), cgroup = g)
h.start()
c = spawn(workload(workers = 1, work = work.cgroup_churn(cycle_ms = 1)), cgroup = g)
c.start()
`
	for _, tc := range []struct {
		name, tail, want string
		timeout          time.Duration
	}{
		{"fail", `fail("half-way")`, "fail: half-way", 0},
		{"error", "x = 1 // 0", "floored division by zero", 0},
		{"interrupt", `sleep("60s")`, "context deadline exceeded", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := exec(t, ctx, setup+tc.tail+"\n", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestScenario runs a three-step scenario on this host: backdrop groups,
// step groups, ops, and a loop hold; results come back per step and
// cgroup name, and every report names the group its worker started in.
func TestScenario(t *testing.T) {
	_, err := exec(t, context.Background(), loadScenario+`
res = scenario(
    duration = "600ms",
    backdrop = backdrop(cgroups = [cgroup_def("bg", work = work.yield_heavy())], ops = [op.add_cgroup("pool")]),
    steps = [
        step(cgroups = [cgroup_def("web", workers = 2), cgroup_def("db")], hold = hold.frac(0.25)),
        step(ops = [op.spawn("pool", workload(workers = 1)), op.spawn_host(workload(workers = 1)), op.move_all_tasks("", "pool"),
                    op.set_affinity("bg", affinity.single_cpu())],
             hold = hold.fixed("100ms")),
        step(cgroups = [cgroup_def("churn", work = work.cgroup_churn(cycle_ms = 5))],
             ops = [op.add_cgroup("tmp"), op.remove_cgroup("tmp")], hold = hold.loop("50ms")),
        # A loop step applies its ops only while the scenario has time left
        # (none, on a loaded machine); a fixed hold applies them first.
        step(ops = [op.stop_cgroup("pool")], hold = hold.fixed("0s")),
    ],
    checks = {"max_gap_ms": 600000},
)
assert.eq(len(res.steps), 4)
# Beside a step's own cgroups, res.steps[k] holds the backdrop worker's
# slice of step k when it ran in that step (a loaded machine may not run
# it in the short ones).
def own(k):
    for r in res.steps[k].get("bg", []):
        assert.eq(r["phase_epoch"], k + 1)
    return sorted([name for name in res.steps[k].keys() if name != "bg"])
assert.eq(own(3), [])
assert.eq(own(0), ["db", "web"])
assert.eq(len(res.steps[0]["web"]), 2)
assert.eq(len(res.steps[0]["db"]), 1)
assert.eq(own(1), ["pool"])
assert.eq(len(res.steps[1]["pool"]), 1)
assert.eq(own(2), ["churn"])
assert.eq(sorted(res.backdrop.keys()), ["bg", "pool"])
assert.eq(len(res.backdrop["bg"]), 1)
# spawn_host's worker, moved into a backdrop cgroup, went to the backdrop
# (else step 1 would hold 2 reports); stop_cgroup then dropped it.
assert.eq(res.backdrop["pool"], [])
assert.eq(len(res.reports), 6)
assert.eq(res.checks, {"max_gap_ms": 600000})
for name in ("web", "db"):
    for r in res.steps[0][name]:
        assert.true(r["cgroup"].endswith("/" + name))
        assert.true(r["completed"])
assert.true(res.steps[1]["pool"][0]["cgroup"].endswith("/pool"))
assert.true(res.steps[2]["churn"][0]["completed"])
assert.eq(type(res.steps[0]["web"]), "list")
assert.eq(type(res.steps[0]["web"][0]), "dict")
`, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// swapScript is a two-step scenario: two cgroups on disjoint halves of the
// CPUs, then op.swap_cpusets. Its workers are step-local (op.spawn into
// backdrop cgroups), so each step's reports show the CPUs of that step.
const swapScript = loadScenario + `
if not cgroup.cpuset_available():
    print("skip:", cgroup.cpuset_reason())
else:
    half0, half1 = topo.cpuset(cpus.disjoint(0, 2)), topo.cpuset(cpus.disjoint(1, 2))
    cfg = workload(workers = 2)
    res = scenario(
        duration = "1s",
        backdrop = backdrop(ops = [
            op.add_cgroup("a"), op.add_cgroup("b"),
            op.set_cpuset("a", cpus.disjoint(0, 2)), op.set_cpuset("b", cpus.disjoint(1, 2)),
        ]),
        steps = [
            step(ops = [op.spawn("a", cfg), op.spawn("b", cfg)], hold = hold.frac(0.5)),
            step(ops = [op.swap_cpusets("a", "b"), op.spawn("a", cfg), op.spawn("b", cfg)], hold = hold.frac(0.5)),
        ],
    )
    want = [{"a": half0, "b": half1}, {"a": half1, "b": half0}]
    for i, groups in enumerate(res.steps):
        for name, cpus_ in want[i].items():
            assert.eq(len(groups[name]), 2)
            for r in groups[name]:
                assert.true(r["completed"])
                outside = [c for c in r["cpus_used"] if c not in cpus_]
                assert.true(not outside, "step %d cgroup %s: cpus_used %s outside %s" % (i, name, r["cpus_used"], cpus_))
    print("ok", half0, half1)
`

func swapScenario(t *testing.T) { cpusetScenario(t, swapScript) }

// cpusetScenario runs a script that prints "skip: REASON" without the
// cpuset controller, skipping with that reason.
func cpusetScenario(t *testing.T, script string) {
	out, err := exec(t, context.Background(), script, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if reason, ok := strings.CutPrefix(strings.TrimSpace(out), "skip: "); ok {
		t.Skip("no cpusets on this host: " + reason)
	}
	t.Log(out)
}

// TestScenarioSwapCpusets runs the swap scenario here; on a host without
// the cpuset controller in v2 it skips, printing why.
func TestScenarioSwapCpusets(t *testing.T) { swapScenario(t) }

// TestGuestScenarioSwapCpusets runs the swap scenario in a 4-CPU, 2-node
// guest whose pure cgroup v2 hierarchy has the cpuset controller.
func TestGuestScenarioSwapCpusets(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 4, NUMA: 2}) {
		return
	}
	swapScenario(t)
}

// TestScenarioPhaseSlices runs a three-step scenario with two backdrop
// spinners (runtime.md §5.5): each reports one phase slice per step, in
// order, whose iterations are a part of its own; res.steps[k] holds each
// spinner's slice of step k beside the step's own workers, and
// res.reports only the reports themselves. It needs no controller.
func TestScenarioPhaseSlices(t *testing.T) {
	out, err := exec(t, context.Background(), loadScenario+`
res = scenario(
    # Holds are cut to what is left of the duration: a long one leaves
    # each step its 300ms however slow the spawns are.
    duration = "60s",
    backdrop = backdrop(cgroups = [cgroup_def("bg", workers = 2, work = work.spin_wait())]),
    steps = [
        step(hold = hold.fixed("300ms")),
        step(cgroups = [cgroup_def("load")], hold = hold.fixed("300ms")),
        step(hold = hold.fixed("300ms")),
    ],
)
assert.eq(len(res.reports), 3)
assert.eq(len(res.backdrop["bg"]), 2)
for r in res.backdrop["bg"]:
    ps = r["phase_slices"]
    assert.eq([s["phase_epoch"] for s in ps], [1, 2, 3])
    assert.true(stats.sum([s["iterations"] for s in ps]) <= r["iterations"], "the steps' iterations are a part of the whole")
    for s in ps:
        assert.true(s["iterations"] > 0 and s["wall_ns"] > 0 and s["cpus_used"], s)
        assert.eq(len(s["wake_latencies_ns"]), 0)
assert.eq(len(res.steps[1]["load"]), 1)
for k in range(3):
    sliced = res.steps[k]["bg"]
    assert.eq([r["phase_epoch"] for r in sliced], [k + 1, k + 1])
    assert.eq([r["iterations"] for r in sliced], [r["phase_slices"][k]["iterations"] for r in res.backdrop["bg"]])
    assert.eq([r["tid"] for r in sliced], [r["tid"] for r in res.backdrop["bg"]])
print("ok")
`, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// phaseSwapScript is the acceptance scenario of per-phase slices: two
// backdrop spinners in cgroups on disjoint halves of the CPUs for three
// steps, their cpusets swapped in the second. Each worker's slice of
// step k lies inside its cgroup's cpuset during step k, though the whole
// run's CPUs span both halves.
const phaseSwapScript = loadScenario + `
if not cgroup.cpuset_available():
    print("skip:", cgroup.cpuset_reason())
else:
    half0, half1 = topo.cpuset(cpus.disjoint(0, 2)), topo.cpuset(cpus.disjoint(1, 2))
    res = scenario(
        duration = "120s",  # a bound: each step holds its 1s (see TestScenarioPhaseSlices)
        backdrop = backdrop(cgroups = [
            cgroup_def("a", cpuset = cpus.disjoint(0, 2), work = work.spin_wait()),
            cgroup_def("b", cpuset = cpus.disjoint(1, 2), work = work.spin_wait()),
        ]),
        steps = [
            step(hold = hold.fixed("1s")),
            step(ops = [op.swap_cpusets("a", "b")], hold = hold.fixed("1s")),
            step(hold = hold.fixed("1s")),
        ],
    )
    want = {"a": [half0, half1, half1], "b": [half1, half0, half0]}
    for name, sets in want.items():
        for r in res.backdrop[name]:
            ps = r["phase_slices"]
            assert.eq([s["phase_epoch"] for s in ps], [1, 2, 3])
            for k, s in enumerate(ps):
                outside = [c for c in s["cpus_used"] if c not in sets[k]]
                assert.true(s["cpus_used"] and not outside, "%s step %d: cpus_used %s outside its cpuset %s" % (name, k, s["cpus_used"], sets[k]))
                assert.eq(res.steps[k][name][0]["cpus_used"], s["cpus_used"])
            print(name, "whole run", r["cpus_used"], "steps", [s["cpus_used"] for s in ps])
    print("ok", half0, half1)
`

func phaseSwap(t *testing.T) { cpusetScenario(t, phaseSwapScript) }

// TestScenarioPhaseSlicesSwap runs the acceptance scenario here; on a host
// without the cpuset controller in v2 it skips, printing why.
func TestScenarioPhaseSlicesSwap(t *testing.T) { phaseSwap(t) }

// TestGuestScenarioPhaseSlicesSwap runs it in a 4-CPU guest whose pure
// cgroup v2 hierarchy has the cpuset controller.
func TestGuestScenarioPhaseSlicesSwap(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 4}) {
		return
	}
	phaseSwap(t)
}

// TestFreeze freezes a cgroup of spinners: once the kernel reports them
// frozen their published iterations stay put, and after unfreeze every
// worker passes where it stood.
func TestFreeze(t *testing.T) {
	_, err := exec(t, context.Background(), `load("@stdlib//run.star", "wait_progress")
g = cgroup.create("f")
h = spawn(workload(workers = 2), cgroup = g)
h.start()
wait_progress(h)
g.freeze()
g.freeze()  # idempotent
assert.true(g.frozen)
at = h.snapshot()
sleep("100ms")
assert.eq(h.snapshot(), at)
g.unfreeze()
assert.true(not g.frozen)
wait_progress(h, iterations = max(at) + 1)
assert.eq([r["completed"] for r in h.stop()], [True, True])
`, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestScenarioOps runs op.add_cgroup_def, op.freeze, op.capture_procs and
// op.move_all_tasks; the scenario ends with a step cgroup and a backdrop
// cgroup frozen and still collects every report.
func TestScenarioOps(t *testing.T) {
	out, err := exec(t, context.Background(), loadScenario+`
res = scenario(
    duration = "2s",
    backdrop = backdrop(cgroups = [cgroup_def("bf", workers = 2)], ops = [op.add_cgroup("dst")]),
    steps = [
        step(ops = [op.capture_procs("bf", "bf"), op.freeze("bf"), op.unfreeze("bf"), op.freeze("bf"),
                    op.add_cgroup_def(cgroup_def("late", workers = 3)), op.freeze("late"),
                    op.capture_procs("late", "late"), op.move_all_tasks("late", "nowhere")],
             hold = hold.fixed("20ms")),
        step(ops = [op.spawn_host(workload(workers = 1)), op.move_all_tasks("", "dst"), op.capture_procs("dst", "dst")],
             hold = hold.fixed("0s")),
    ],
)
assert.eq(len(res.steps[0]["late"]), 3)
assert.eq(len(res.backdrop["bf"]), 2)
assert.eq(len(res.backdrop["dst"]), 1)
for r in res.reports:
    assert.true(r["completed"], r["exit_info"])
assert.eq(sorted(res.captures["bf"]), sorted([r["tid"] for r in res.backdrop["bf"]]))
assert.eq(sorted(res.captures["late"]), sorted([r["tid"] for r in res.steps[0]["late"]]))
assert.eq(res.captures["dst"], [r["tid"] for r in res.backdrop["dst"]])
assert.fails(lambda: scenario(steps = [step(ops = [op.freeze("nope")])]), 'op.freeze: no cgroup "nope" in this scenario')
assert.fails(lambda: op.capture_procs("", "a"), "op.capture_procs: tag: want a non-empty string")
assert.fails(lambda: op.add_cgroup_def("a"), "op.add_cgroup_def: want a cgroup_def")
`, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := `scenario: warning: op.move_all_tasks("late", "nowhere"): no cgroup "nowhere" in this scenario (cgroups: bf, dst, late); nothing moved`; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestLimitNeedsController: on a hierarchy without a controller, a limit
// that needs it is an error naming the controller and the parameter, and
// no group is left behind. It skips where the controller is there (the
// guest tests exercise the limits).
func TestLimitNeedsController(t *testing.T) {
	testenv.NeedCgroupV2(t)
	root, err := cgroupfs.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ controller, arg, want string }{
		{"cpu", "cpu_weight = 100", "cpu_weight and cpu_max need(s) controller cpu: controller cpu not available in the cgroup v2 hierarchy"},
		{"pids", "pids_max = 8", "pids_max need(s) controller pids: controller pids not available"},
		{"memory", `memory_max = "max"`, "memory_max, memory_high, memory_low and memory_swap_max need(s) controller memory"},
	} {
		t.Run(tc.controller, func(t *testing.T) {
			if missing, err := root.MissingControllers(tc.controller); err != nil || len(missing) == 0 {
				t.Skipf("the v2 hierarchy has the %s controller (%v)", tc.controller, err)
			}
			_, err := exec(t, context.Background(), fmt.Sprintf("cgroup.create(\"a\", %s)\n", tc.arg), nil)
			if err == nil || !strings.Contains(err.Error(), `cgroup.create("a"): `+tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
