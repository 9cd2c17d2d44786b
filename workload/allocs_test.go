package workload

import (
	"testing"
	"time"
)

// TestStepAllocs drives each body's Step in this process and checks that
// an iteration allocates nothing (workers run with the GC off). Paired
// types need a partner and Custom owns its loop, so they are left out, as
// are the types that act on cgroups (CgroupChurn would move this test
// process between groups, CrossAffinityChurn would rewrite the masks of
// its neighbours): TestLoopDoesNotAllocate counts theirs inside a worker.
// NetTraffic needs an interface of a private network namespace, so
// TestNetTraffic checks its loop's allocations there.
func TestStepAllocs(t *testing.T) {
	dir := t.TempDir()
	params := map[string]map[string]any{
		"Bursty":              {"burst_duration": "100us", "sleep_duration": "100us"},
		"IdleChurn":           {"burst_duration": "100us", "sleep_duration": "100us"},
		"IpcVariance":         {"hot_iters": 1000, "cold_iters": 100, "period_iters": 2},
		"IoSyncWrite":         {"scratch_dir": dir, "file_kb": 4096},
		"IoRandRead":          {"scratch_dir": dir, "file_kb": 4096},
		"IoConvoy":            {"scratch_dir": dir, "file_kb": 4096},
		"NumaMigrationChurn":  {"period_ms": 0},
		"NumaWorkingSetSweep": {"region_kb": 64, "sweep_period_ms": 0, "target_nodes": []int{0}},
		"PageFaultChurn":      {"region_kb": 64, "touches_per_cycle": 8},
		"Sequence":            {"phases": []Phase{SpinPhase(50 * time.Microsecond), SleepPhase(50 * time.Microsecond), YieldPhase(50 * time.Microsecond), IoPhase(50 * time.Microsecond)}},
	}
	for _, typ := range Types() {
		if typ.GroupSize != nil || typ.Name == "Custom" || typ.Name == "NetTraffic" || typ.Cgroups != nil || typ.Placement != nil {
			continue
		}
		t.Run(typ.Name, func(t *testing.T) {
			w := newTestWorker(t, MustWork(typ.Name, params[typ.Name]))
			var allocs float64
			var err error
			onLockedThread(func() {
				var body Body
				if body, err = typ.New(w); err != nil {
					return
				}
				if c, ok := body.(interface{ Close() }); ok {
					defer c.Close()
				}
				allocs = testing.AllocsPerRun(20, func() { body.Step() })
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%s: %.1f allocations per Step, want 0", typ.Name, allocs)
			}
		})
	}
	assertEmptyDir(t, dir)
}
