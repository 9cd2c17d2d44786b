package workload

import (
	"maps"
	"testing"
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
	for _, typ := range Types() {
		if typ.GroupSize != nil || typ.Name == "Custom" || typ.Name == "NetTraffic" || typ.Cgroups != nil || typ.Placement != nil {
			continue
		}
		t.Run(typ.Name, func(t *testing.T) {
			w := newTestWorker(t, exampleIn(typ, dir))
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

// exampleIn is the type's Example with its scratch files, if it takes a
// scratch_dir, in dir.
func exampleIn(typ *Type, dir string) Work {
	params := maps.Clone(typ.Example)
	if typ.paramIndex("scratch_dir") >= 0 {
		if params == nil {
			params = map[string]any{}
		}
		params["scratch_dir"] = dir
	}
	return MustWork(typ.Name, params)
}
