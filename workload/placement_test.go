package workload

import (
	"slices"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
)

// TestCgroupPlacement walks through how a scenario places a group of
// workers (once Example_cgroup, whose output varies: tids, CPUs): in a
// child of the run's group, give the child a cpuset from a CpusetSpec
// (when the v2 hierarchy has the cpuset controller), resolve a
// topology-aware affinity against that cpuset, and spawn the workers
// directly inside the child.
func TestCgroupPlacement(t *testing.T) {
	tp, err := topo.Host()
	if err != nil {
		t.Fatal(err)
	}
	cg := testGroup(t, "cg_0") // in this run's group, removed when t ends
	run := cg.Parent()

	var cpuset []int // nil: no cpuset
	if err := run.EnableControllers("cpuset"); err == nil {
		cpus, err := topo.CpusDisjoint(0, 2).Resolve(tp)
		if err != nil {
			t.Fatal(err)
		}
		if err := cg.SetCpus(cpus); err != nil {
			t.Fatal(err)
		}
		cpuset = cpus
	} else {
		t.Logf("no cpusets: %v", err)
	}
	aff, err := ResolveAffinity(LLCAligned(), tp, cpuset)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Spawn(Config{Workers: 2, Affinity: aff, Cgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitProgress(t, h.SnapshotIterations, 1, 0, parkLimit)
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reports {
		if !r.Completed || r.Cgroup != cg.Group() || len(r.CPUsUsed) == 0 {
			t.Errorf("worker %d: completed %v, cgroup %q, cpus_used %v; want completed in %q", i, r.Completed, r.Cgroup, r.CPUsUsed, cg.Group())
		}
		for _, c := range r.CPUsUsed {
			if !slices.Contains(aff.CPUs, c) {
				t.Errorf("worker %d ran on CPU %d, outside its affinity %s", i, c, aff)
			}
		}
	}
}
