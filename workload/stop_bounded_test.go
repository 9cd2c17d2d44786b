package workload

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStopBoundedForLargeParameters: the largest in-range work per step
// (a million page faults over a 16 GiB region; a 1 GiB matrix footprint,
// minutes per multiplication) still stops within the stop deadline, with
// every worker completed. The deadline is the code's own: a deadline
// shortened to make a step outlast it fails a starved worker on a loaded
// machine too. Where a whole step could fit in it (the million faults take
// seconds), the report shows that the stop cut the step short instead.
func TestStopBoundedForLargeParameters(t *testing.T) {
	const touches = 1 << 20
	for _, tc := range []struct {
		name   string
		params map[string]any
		// busy reports whether the workers are inside their long step.
		busy func(t *testing.T, h *Handle, minflt0 int64) bool
		// whole is the first worker's work units in a whole first step; 0
		// when a step outlasts the deadline anyway.
		whole uint64
	}{
		{"PageFaultChurn", map[string]any{"region_kb": 16 << 20, "touches_per_cycle": touches},
			func(t *testing.T, h *Handle, minflt0 int64) bool {
				// 10,000 faults in, and no cycle ended: inside the first.
				st, ok := procStat(h.Pids()[0])
				return ok && int64(st.MinFlt)-minflt0 > 10_000 && h.SnapshotIterations()[0] == 0
			}, touches},
		{"FanOutCompute", map[string]any{"fan_out": 1, "cache_footprint_kb": 1 << 20, "operations": 1, "sleep_usec": 0},
			func(t *testing.T, h *Handle, _ int64) bool {
				// The receiver has spent 100 ms of CPU time (10 ticks; it
				// sleeps while it waits) and not finished its first step:
				// it is multiplying.
				st, ok := procStat(h.Pids()[1])
				return ok && st.UTime >= 10 && h.SnapshotIterations()[1] == 0
			}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			cfg := Config{Workers: 1, Work: MustWork(tc.name, tc.params)}
			if tc.name == "FanOutCompute" {
				cfg.Workers = 2
			}
			h := spawnWork(t, cfg)
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			st0, _ := procStat(h.Pids()[0])
			minflt0 := int64(st0.MinFlt)
			// Stop once the workers are inside their first long step.
			deadline := time.Now().Add(30 * time.Second)
			for !tc.busy(t, h, minflt0) {
				if time.Now().After(deadline) {
					t.Fatalf("workers not inside their first step after 30 s: iterations %v", h.SnapshotIterations())
				}
				time.Sleep(time.Millisecond)
			}
			rs := stopWork(t, h) // every worker reports: the stop was bounded
			if tc.whole != 0 && (rs[0].Iterations != 1 || rs[0].WorkUnits >= tc.whole) {
				t.Errorf("%d steps, %d work units; want the first step cut short by the stop (under %d)", rs[0].Iterations, rs[0].WorkUnits, tc.whole)
			}
		})
	}
}

// TestStopCutByContext: an interrupted stop waiting on a SIGSTOPped
// worker kills it at once instead of waiting out the stop deadline, and
// keeps the other workers' reports.
func TestStopCutByContext(t *testing.T) {
	leakCheck(t)
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("YieldHeavy", nil)})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitAll(h.children, func(c *child) chan struct{} { return c.released }, releaseLimit)
	unix.Kill(h.Pids()[0], unix.SIGSTOP)
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the running worker has reported: the stop is then
	// waiting on the stopped one alone.
	go func() {
		<-h.children[1].done
		cancel()
	}()
	t0 := time.Now()
	rs, err := h.StopAndCollectContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took >= h.collectLimit {
		t.Errorf("stop took %v: it waited out the %v deadline", took, h.collectLimit)
	}
	if rs[0].Completed || rs[0].ExitInfo == nil || rs[0].ExitInfo.Kind != ExitTimedOut {
		t.Errorf("stopped worker: %+v, want timed_out", rs[0].ExitInfo)
	}
	if !rs[1].Completed {
		t.Errorf("running worker: %+v, want its report", rs[1].ExitInfo)
	}
}
