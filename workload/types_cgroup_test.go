package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/cgroupfs"
)

// churnGroups lists the CgroupChurn groups below run.
func churnGroups(t *testing.T, run *cgroupfs.Manager) []string {
	t.Helper()
	kids, err := run.Children()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kids {
		if strings.HasPrefix(k, "cgroup_churn-") {
			out = append(out, k)
		}
	}
	return out
}

// TestCgroupChurn watches each worker's /proc/PID/cgroup from outside
// while it runs: it must visit more than one of its sibling groups, and
// the groups must be gone once the workers are collected.
func TestCgroupChurn(t *testing.T) {
	start := testGroup(t, "churn-start")
	run := start.Parent()
	h := spawnWork(t, Config{
		Workers:      2,
		Work:         MustWork("CgroupChurn", map[string]any{"groups": 3, "cycle_ms": 5}),
		Cgroup:       start,
		CgroupParent: run,
	})
	siblings := churnGroups(t, run)
	if len(siblings) != 3 {
		t.Fatalf("groups below %s: %v, want 3 cgroup_churn-* groups", run, siblings)
	}
	for _, pid := range h.Pids() {
		if got, _ := cgroupfs.ProcCgroup(pid); got != start.Group() {
			t.Errorf("parked worker %d is in %q, want %q", pid, got, start.Group())
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]map[string]bool{}
	for end := time.Now().Add(parkLimit); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		done := true
		for _, pid := range h.Pids() {
			if seen[pid] == nil {
				seen[pid] = map[string]bool{}
			}
			if g, err := cgroupfs.ProcCgroup(pid); err == nil && g != start.Group() {
				seen[pid][g] = true
			}
			done = done && len(seen[pid]) >= 2
		}
		if done {
			break
		}
	}
	for pid, groups := range seen {
		if len(groups) < 2 {
			t.Errorf("worker %d was seen in %v, want at least 2 of the sibling groups %v", pid, groups, siblings)
		}
		for g := range groups {
			if !strings.HasPrefix(g, run.Group()+"/cgroup_churn-") {
				t.Errorf("worker %d was in %s, outside its sibling groups", pid, g)
			}
		}
	}
	for i, r := range stopWork(t, h) {
		if r.Counters["cgroup_moves"] == 0 || r.Counters["cgroup_move_errors"] != 0 {
			t.Errorf("worker %d counters %v: want moves and no errors", i, r.Counters)
		}
	}
	if left := churnGroups(t, run); len(left) != 0 {
		t.Errorf("groups left after stop: %v", left)
	}
}

func TestCgroupChurnNeedsParent(t *testing.T) {
	_, err := Spawn(Config{Workers: 1, Work: MustWork("CgroupChurn", nil)})
	if err == nil || !strings.Contains(err.Error(), "CgroupChurn moves its workers between cgroups of its own, so it needs Config.CgroupParent") {
		t.Fatalf("Spawn = %v, want the CgroupParent error", err)
	}
}
