package workload

import (
	"strings"
	"testing"
	"time"
)

func TestPageFaultChurn(t *testing.T) {
	const touches = 256
	h := spawnWork(t, Config{Work: MustWork("PageFaultChurn", map[string]any{"region_kib": 4096, "touches_per_cycle": touches})})
	pid := h.Pids()[0]
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 1)
	// Faults are read outside the iteration reads, so the fault window
	// covers the cycles counted, except that a snapshot lags by up to one
	// publish interval (1 ms), a few cycles: allow 4 cycles of slack.
	flt0 := minflt(t, pid)
	it0 := h.SnapshotIterations()[0]
	waitProgress(t, h, it0+8)
	it1 := h.SnapshotIterations()[0]
	flt1 := minflt(t, pid)
	r := stopWork(t, h)[0]
	if cycles := it1 - it0; cycles < 8 || flt1-flt0+4*touches < touches*cycles {
		t.Errorf("/proc/%d/stat minflt rose by %d over %d cycles, want at least %d per cycle", pid, flt1-flt0, cycles, touches)
	}
	if got := r.Counters["minor_faults"]; got < touches*r.Iterations {
		t.Errorf("minor_faults = %d over %d cycles, want at least %d per cycle", got, r.Iterations, touches)
	}
	if r.WorkUnits != r.Iterations*(touches+64) {
		t.Errorf("work_units = %d, want %d per cycle", r.WorkUnits, touches+64)
	}
}

func minflt(t *testing.T, pid int) uint64 {
	st, ok := procStat(pid)
	if !ok {
		t.Fatalf("read minflt of %d", pid)
	}
	return uint64(st.MinFlt)
}

func TestNumaWorkingSetSweep(t *testing.T) {
	work := MustWork("NumaWorkingSetSweep", map[string]any{"region_kb": 1024, "sweep_period_ms": 10, "target_nodes": []int{0}})
	r := runFor(t, Config{Work: work}, 200*time.Millisecond)[0]
	if r.Counters["mbind_calls"] != r.Iterations || r.Counters["mbind_errors"] != 0 {
		t.Errorf("counters %v over %d iterations: want one successful mbind per iteration", r.Counters, r.Iterations)
	}
	if r.NumaPages[0] < 256 || len(r.NumaPages) != 1 {
		t.Errorf("numa_pages = %v, want the 256 region pages on node 0 only", r.NumaPages)
	}
	if r.WorkUnits != 256*r.Iterations || r.WakeSampleTotal == 0 {
		t.Errorf("work_units = %d, wake samples = %d over %d iterations; want 256 units each and samples", r.WorkUnits, r.WakeSampleTotal, r.Iterations)
	}
}

// TestNumaWorkingSetSweepUnknownNode: an offline node is data NewWork
// accepts (a result from a bigger machine decodes here) and that the
// preflight, and so Spawn, refuses.
func TestNumaWorkingSetSweepUnknownNode(t *testing.T) {
	w, err := NewWork("NumaWorkingSetSweep", map[string]any{"target_nodes": []int{0, 63}})
	if err != nil {
		t.Fatalf("NewWork read the machine: %v", err)
	}
	if _, serr := Spawn(Config{Workers: 1, Work: w}); serr == nil || !strings.Contains(serr.Error(), "node 63 is not online") {
		t.Errorf("Spawn = %v, want the preflight's error", serr)
	}
	err = w.Preflight()
	if err == nil || !strings.Contains(err.Error(), "node 63 is not online") || !strings.Contains(err.Error(), "numa_working_set_sweep") {
		t.Fatalf("target_nodes = [0, 63]: %v, want an error naming the constructor and node 63", err)
	}
}
