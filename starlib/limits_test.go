package starlib_test

import (
	"context"
	"testing"

	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// limitScripts exercise cgroup limits against real controllers, each
// printing what it measured; exec checks that nothing is left after.
var limitScripts = []struct{ name, src string }{
	// Two spinners pinned to one CPU in groups of weight 100 and 400 share
	// it about 1:4, measured by their iterations (spins on the pinned CPU)
	// over a window in which both run: their loops start apart, as a guest
	// spawns slowly, and the groups' cpu.stat also counts the Go runtime's
	// threads, which run unpinned.
	{"cpu_weight", `
load("@stdlib//run.star", "wait_progress")
cpu = topo.cpus[-1]  # away from CPU 0, which takes most interrupts
lo = cgroup.create("lo", cpu_weight = 100)
hi = cgroup.create("hi", cpu_weight = 400)
assert.eq(lo.read("cpu.weight").strip(), "100")
assert.eq(hi.read("cpu.max").strip(), "max 100000")
cfg = workload(workers = 1, affinity = affinity.exact([cpu]))
hl, hh = spawn(cfg, cgroup = lo), spawn(cfg, cgroup = hi)
hl.start()
hh.start()
wait_progress(hl)
wait_progress(hh)
l0, h0 = hl.snapshot()[0], hh.snapshot()[0]
sleep("4s")
l1, h1 = hl.snapshot()[0], hh.snapshot()[0]
hl.stop()
hh.stop()
ratio = (h1 - h0) / (l1 - l0)
print("cpu_weight 400:100: iteration ratio", ratio)
assert.true(3 <= ratio and ratio <= 5, "ratio %s outside 3..5" % ratio)
`},
	// A spinner capped at 20 ms per 100 ms uses at most a quarter of a CPU.
	{"cpu_max", `
g = cgroup.create("cap", cpu_max = ("20ms", "100ms"))
assert.eq(g.read("cpu.max").strip(), "20000 100000")
h = spawn(workload(workers = 1), cgroup = g)
h.start()
sleep("2s")
r = h.stop()[0]
share = r["cpu_time_ns"] / r["wall_time_ns"]
throttled = [int(l.split(" ")[1]) for l in g.read("cpu.stat").splitlines() if l.startswith("nr_throttled ")][0]
print("cpu_max 20ms/100ms: share", share, "throttled", throttled, "times")
assert.true(share <= 0.25, "share %s" % share)
assert.true(throttled > 0)
`},
	// pids_max = 8: a ForkExit worker runs, then seven running workers
	// (and their threads) are moved in, which pids.max does not limit, so
	// every fork after fails, is counted, and the run still ends cleanly.
	// The workers are moved only once running, when their Go runtimes have
	// the threads they need: a thread is a task too.
	{"pids_max", `
load("@stdlib//run.star", "wait_progress")
g = cgroup.create("p", pids_max = 8)
f = spawn(workload(workers = 1, work = work.fork_exit()), cgroup = g)
f.start()
wait_progress(f)
fill = spawn(workload(workers = 7))
fill.start()
wait_progress(fill)
g.move(fill)
at = f.snapshot()[0]
wait_progress(f, iterations = at + 20)
r = f.stop()[0]
fill.stop()
errors = r["counters"].get("fork_errors", 0)
hits = [int(l.split(" ")[1]) for l in g.read("pids.events").splitlines() if l.startswith("max ")][0]
print("pids_max 8: fork_errors %d, pids.events max %d" % (errors, hits))
assert.true(r["completed"], r["exit_info"])
assert.true(errors >= 10, r["counters"])
assert.true(hits >= errors)
`},
	// memory_max far below PageFaultChurn's region: the kernel hits the
	// limit and OOM-kills the worker; the script (ktstar) lives on and the
	// report says the worker was killed.
	{"memory_max", `
g = cgroup.create("m", memory_max = 24 * 1024 * 1024, memory_swap_max = 0)
h = spawn(workload(workers = 1, work = work.page_fault_churn(region_kb = 262144, touches_per_cycle = 65536)), cgroup = g)
h.start()
def events():
    return {l.split(" ")[0]: int(l.split(" ")[1]) for l in g.read("memory.events").splitlines()}
deadline = time.now() + time.parse_duration("60s")
while events()["oom_kill"] == 0 and time.now() < deadline:
    sleep("20ms")
r = h.stop()[0]
ev = events()
print("memory_max 24M: memory.events", ev, "report completed", r["completed"], "exit_info", r["exit_info"])
assert.true(ev["max"] > 0 and ev["oom_kill"] > 0, ev)
assert.true(not r["completed"])
assert.eq(r["exit_info"]["kind"], "signaled")
assert.eq(r["exit_info"]["signal"], 9)
`},
	// A scenario's cgroup_def takes the same limits: a spinner capped at
	// 10 ms per 100 ms does a fraction of what an uncapped one does on
	// another CPU (the bound is loose: the loops start apart).
	{"cgroup_def", loadScenario + `
res = scenario(duration = "4s", steps = [step(cgroups = [
    cgroup_def("cap", cpu_max = ("10ms", "100ms"), affinity = affinity.exact([topo.cpus[-1]]), pids_max = 256, memory_high = 1 << 30),
    cgroup_def("free", affinity = affinity.exact([topo.cpus[0]])),
])])
cap, free = res.steps[0]["cap"][0], res.steps[0]["free"][0]
print("cgroup_def cpu_max 10ms/100ms: iterations capped", cap["iterations"], "uncapped", free["iterations"])
assert.true(cap["completed"] and free["completed"])
assert.true(free["iterations"] > 3 * cap["iterations"])
`},
}

// TestGuestCgroupLimits runs limitScripts in a 2-CPU guest whose pure
// cgroup v2 hierarchy has the cpu, memory and pids controllers (this
// host's has none).
func TestGuestCgroupLimits(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 2}) {
		return
	}
	for _, tc := range limitScripts {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec(t, context.Background(), tc.src, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			t.Log(out)
		})
	}
}
