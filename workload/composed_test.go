package workload

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/cpulist"
	"github.com/ktstar/ktstar/topo"
)

// TestComposedGroups spawns a primary group and two composed ones, each
// with its own work, workers, affinity, policy, nice and comm: every
// worker shows its group's settings from outside, grouped types pair up
// inside their own group, and the reports carry group_idx 0, 1, 2 in
// spawn order.
func TestComposedGroups(t *testing.T) {
	leakCheck(t)
	online, err := topo.OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	five := 5
	cfg := Config{
		Workers: 2, Work: MustWork("SpinWait", nil), Comm: "primary",
		Composed: []Config{
			{Workers: 2, Work: MustWork("FutexPingPong", nil), Comm: "pingpong", Nice: &five, Policy: Batch()},
			{Workers: 1, Work: MustWork("SpinWait", nil), Comm: "pinned", Affinity: Exact(online[0])},
		},
	}
	h := spawnWork(t, cfg)
	own := fmt.Sprint(ownNice(t)) // inherited where no nice is set
	want := []struct {
		group          int
		comm, policy   string
		nice, affinity string
	}{
		{0, "primary", "0", own, cpulist.Format(online)},
		{0, "primary", "0", own, cpulist.Format(online)},
		{1, "pingpong", "3", "5", cpulist.Format(online)},
		{1, "pingpong", "3", "5", cpulist.Format(online)},
		{2, "pinned", "0", own, fmt.Sprint(online[0])},
	}
	pids := h.Pids()
	if len(pids) != len(want) {
		t.Fatalf("%d workers, want %d", len(pids), len(want))
	}
	for i, w := range want {
		pid := pids[i]
		st, ok := procStat(pid)
		if !ok {
			t.Fatalf("worker %d: no /proc/%d/stat", i, pid)
		}
		got := []string{st.Comm, procField(t, pid, "sched", "policy"), fmt.Sprint(st.Nice), procField(t, pid, "status", "Cpus_allowed_list")}
		if exp := []string{w.comm, w.policy, w.nice, w.affinity}; strings.Join(got, " ") != strings.Join(exp, " ") {
			t.Errorf("worker %d (group %d): comm, policy, nice, cpus = %q, want %q", i, w.group, got, exp)
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 10)
	reports := stopWork(t, h)
	for i, r := range reports {
		if r.GroupIdx != want[i].group {
			t.Errorf("worker %d: group_idx %d, want %d", i, r.GroupIdx, want[i].group)
		}
	}
	// The ping-pong pair woke each other: their region is their own.
	if r := reports[2]; r.WorkUnits == 0 || r.WorkGroup != 0 {
		t.Errorf("composed FutexPingPong worker: work units %d, work group %d", r.WorkUnits, r.WorkGroup)
	}
}

// TestComposedValidation names the composed entry and its group_idx in
// an error, and refuses nested composed groups, before anything forks.
func TestComposedValidation(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Workers: 1, Composed: []Config{{Workers: 1}, {Workers: 0}}}, "composed[1] (group_idx 2): workers = 0"},
		{Config{Workers: 1, Composed: []Config{{Workers: 3, Work: MustWork("FutexPingPong", nil)}}}, "composed[0] (group_idx 1): workers = 3: FutexPingPong runs in groups of 2"},
		{Config{Workers: 1, Composed: []Config{{Workers: 1, Composed: []Config{{Workers: 1}}}}}, "composed[0] (group_idx 1): a composed group has no composed groups of its own"},
		{Config{Workers: 1, MaxWorkers: 3, Composed: []Config{{Workers: 2}, {Workers: 2}}}, "workers = 5 needs up to 40 tasks"},
	} {
		_, err := Spawn(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want one containing %q", err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrAdmission) {
			t.Errorf("err = %v: neither a config error nor admission's", err)
		}
	}
}
