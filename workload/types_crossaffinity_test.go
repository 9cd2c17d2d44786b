package workload

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// TestCrossAffinityChurn spawns two spinners and then a churner into one
// group of a test run, and watches the spinners' Cpus_allowed_list from
// outside: each must be seen narrowed to every CPU of the churner but the
// highest and then widened again to all of them (the spinners start with
// every CPU, so only a return to it shows alternation).
func TestCrossAffinityChurn(t *testing.T) { checkCrossAffinityChurn(t) }

// TestGuestCrossAffinityChurn is TestCrossAffinityChurn on a 4-CPU guest,
// where the masks are 0-3 and 0-2.
func TestGuestCrossAffinityChurn(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 4}) {
		return
	}
	if cpus, _ := topo.AllowedCPUs(); len(cpus) != 4 {
		t.Fatalf("guest CPUs %v, want 4", cpus)
	}
	checkCrossAffinityChurn(t)
}

func checkCrossAffinityChurn(t *testing.T) {
	cpus, err := topo.AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skipf("needs at least 2 CPUs to alternate between, this test may use %v", cpus)
	}
	cg := testGroup(t, "cross")
	spinners := spawnWork(t, Config{Workers: 2, Work: MustWork("SpinWait", nil), Cgroup: cg})
	churner := spawnWork(t, Config{Workers: 1, Work: MustWork("CrossAffinityChurn", nil), Cgroup: cg, CgroupParent: cg.Parent()})
	for _, h := range []*Handle{spinners, churner} {
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	all, less := FormatCPUList(cpus), FormatCPUList(cpus[:len(cpus)-1])
	// Per spinner, the masks seen in order, each change once.
	seen := map[int][]string{}
	alternated := func(masks []string) bool {
		i := slices.Index(masks, less)
		return i >= 0 && slices.Contains(masks[i:], all)
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		done := true
		for _, pid := range spinners.Pids() {
			if m := allowedCPUs(pid); len(seen[pid]) == 0 || seen[pid][len(seen[pid])-1] != m {
				seen[pid] = append(seen[pid], m)
			}
			done = done && alternated(seen[pid])
		}
		if done {
			break
		}
	}
	t.Logf("masks seen, in order: %v", seen)
	for _, pid := range spinners.Pids() {
		if !alternated(seen[pid]) {
			t.Errorf("spinner %d was seen with masks %v, want %s and then %s again", pid, seen[pid], less, all)
		}
	}
	r := stopWork(t, churner)[0]
	c := r.Counters
	if c["targets"] != 2 || c["affinity_rewrites"] == 0 || c["affinity_rewrite_errors"] != 0 {
		t.Errorf("churner counters %v: want 2 targets, rewrites and no errors", c)
	}
	if r.WakeSampleTotal == 0 {
		t.Error("no yield samples")
	}
	stopWork(t, spinners)
}

// TestPlacementRefusals: the types that act on the other tasks of their
// group, or on its siblings, refuse to spawn anywhere but in a group of a
// ktstar run, where those would be unrelated processes, and
// CgroupAttachStorm refuses a destination it cannot write.
func TestPlacementRefusals(t *testing.T) {
	cg := testGroup(t, "refuse")
	cross, storm := MustWork("CrossAffinityChurn", nil), MustWork("CgroupAttachStorm", map[string]any{"dest": "nowhere"})
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"cross no group", Config{Work: cross}, "CrossAffinityChurn rewrites the CPU mask of every other process in its cgroup, so it runs only inside a cgroup ktstar manages, and it has none"},
		{"cross not a run", Config{Work: cross, Cgroup: cg, CgroupParent: cg}, "is not known to be one (Config.CgroupParent is not a run group)"},
		{"storm no group", Config{Work: storm}, "CgroupAttachStorm moves children into a sibling of its cgroup, so it runs only inside a cgroup ktstar manages, and it has none"},
		{"storm missing dest", Config{Work: storm, Cgroup: cg, CgroupParent: cg.Parent()}, `dest = "nowhere": open ` + cg.Parent().Path() + "/nowhere/cgroup.procs for writing: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Workers = 1
			h, err := Spawn(tc.cfg)
			if err == nil {
				h.Close()
				t.Fatal("spawned")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
