package workload

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Test functions are registered in init, which runs before TestMain calls
// Init, so the re-executed worker has them too.
func init() {
	Register("test_loop", testLoop)
	Register("example", testLoop) // what Custom's catalog Example names
	// test_stamp does one unsampled burst of work and stalls for 250 ms
	// first (both inside a 300 ms warm-up unless load delays its first
	// run), then records the time of each sample as its value.
	Register("test_stamp", func(w *Worker) (map[string]any, error) {
		w.SpinBurst(1024)
		w.Sleep(250 * time.Millisecond)
		for !w.Stopped() {
			w.SpinBurst(1024)
			w.WakeSample(w.Now())
			w.Sleep(time.Millisecond)
			w.Tick()
		}
		return nil, nil
	})
	// test_many records 0..999 as samples in each iteration.
	Register("test_many", func(w *Worker) (map[string]any, error) {
		for !w.Stopped() {
			for i := range int64(1000) {
				w.WakeSample(i)
			}
			w.SpinBurst(1024)
			w.Tick()
		}
		return nil, nil
	})
	Register("test_fail", func(w *Worker) (map[string]any, error) {
		return nil, errors.New("custom boom")
	})
}

// testLoop spins and yields until stopped, counting its loops.
func testLoop(w *Worker) (map[string]any, error) {
	var loops uint64
	for !w.Stopped() {
		w.SpinBurst(1024)
		w.WakeSample(w.Yield())
		w.Tick()
		loops++
	}
	return map[string]any{"loops": loops, "label": w.Work().Label(), "arg": w.Work().Text("arg")}, nil
}

func TestCustomGoFunction(t *testing.T) {
	work := MustWork("Custom", map[string]any{"name": "my_loop", "fn": "test_loop", "arg": "xyz"})
	if work.Label() != "my_loop" {
		t.Errorf("Label() = %q, want my_loop", work.Label())
	}
	r := runFor(t, Config{Work: work}, 100*time.Millisecond)[0]
	if r.Counters["loops"] == 0 || r.Counters["loops"] != r.Iterations || r.WorkUnits != 1024*r.Iterations {
		t.Errorf("loops = %d, iterations = %d, work_units = %d; want Tick to count each loop of 1024 units", r.Counters["loops"], r.Iterations, r.WorkUnits)
	}
	if r.Extra["label"] != "my_loop" || r.Extra["arg"] != "xyz" || r.WakeSampleTotal != r.Iterations {
		t.Errorf("extra = %v, wake samples = %d; want the function's fields and one sample per loop", r.Extra, r.WakeSampleTotal)
	}
}

func TestCustomErrorIsFailureReport(t *testing.T) {
	h := spawnWork(t, Config{Work: MustWork("Custom", map[string]any{"name": "test_fail"}), Workers: 2})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	// The function returns at once, so each worker exits by itself; wait
	// for that, since a worker stopped before its loop never runs a body.
	for _, pid := range h.Pids() {
		for end := time.Now().Add(collectLimit); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break // exited and reaped
			}
		}
	}
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if r.Completed || r.ExitInfo == nil || r.ExitInfo.Kind != ExitFailed || r.ExitInfo.Error != "custom boom" {
			t.Errorf("report %+v: want completed = false and exit_info failed with the error text", r)
		}
	}
}

func TestCustomUnregistered(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"name": "nope"}, `custom: no function registered as "nope"`},
		{map[string]any{}, `custom: name = "": a custom work needs a name`},
	} {
		if err := buildAndPreflight("Custom", tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("custom(%v): %v, want %q", tc.params, err, tc.want)
		}
	}
	typ, _ := Lookup("Custom")
	if typ.Form() != "Custom(name)" {
		t.Errorf("Form() = %q, want Custom(name)", typ.Form())
	}
}

// TestWarmup: with warmup = 300ms no sample is recorded and no gap is
// tracked before 300 ms after start, while work is still counted.
func TestWarmup(t *testing.T) {
	work := MustWork("Custom", map[string]any{"name": "stamp", "fn": "test_stamp"})
	h := spawnWork(t, Config{Work: work, Warmup: 300 * time.Millisecond})
	start := nanotime()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	// The warm-up holds at most 50 of the 1 ms iterations after the stall:
	// by the 60th some are sampled.
	waitProgress(t, h, 60)
	r := stopWork(t, h)[0]
	if r.WakeSampleTotal == 0 {
		t.Fatalf("no samples after the warm-up: %+v", r)
	}
	if first := slices.Min(r.WakeLatenciesNs); int64(first) < start+int64(300*time.Millisecond) {
		t.Errorf("a sample stamped %v after start, inside the 300ms warm-up", time.Duration(int64(first)-start))
	}
	if r.MaxGapAtMs < 300 {
		t.Errorf("max gap %d ms at %d ms: the 250 ms stall inside the warm-up was tracked", r.MaxGapMs, r.MaxGapAtMs)
	}
	// The unsampled burst's work is counted (it would be dropped with the
	// warm-up's if warm-up work were not counted).
	if r.WorkUnits/1024 <= r.WakeSampleTotal {
		t.Errorf("%d work units for %d samples: the warm-up's work was not counted", r.WorkUnits, r.WakeSampleTotal)
	}
}

// TestWakeStatsExact records well over a reservoir's worth of samples:
// the exact aggregates cover every one of them, bound the reservoir's
// extremes, and the histogram's buckets add up to the total.
func TestWakeStatsExact(t *testing.T) {
	work := MustWork("Custom", map[string]any{"name": "many", "fn": "test_many"})
	h := spawnWork(t, Config{Work: work})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	// 1,000 samples an iteration: 200 iterations are twice the reservoir.
	for end := time.Now().Add(60 * time.Second); h.SnapshotIterations()[0] < 200 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	r := stopWork(t, h)[0]
	s := r.WakeStats
	if r.WakeSampleTotal <= 2*MaxWakeSamples || s == nil {
		t.Fatalf("%d samples, stats %v: want more than %d", r.WakeSampleTotal, s, 2*MaxWakeSamples)
	}
	if s.Count != r.WakeSampleTotal {
		t.Errorf("count %d, wake_sample_total %d", s.Count, r.WakeSampleTotal)
	}
	if mx := slices.Max(r.WakeLatenciesNs); s.Max < mx {
		t.Errorf("max %d below the reservoir's max %d", s.Max, mx)
	}
	if mn := slices.Min(r.WakeLatenciesNs); s.Min > mn {
		t.Errorf("min %d above the reservoir's min %d", s.Min, mn)
	}
	var n uint64
	for _, b := range s.Buckets {
		n += b.Count
	}
	if n != s.Count {
		t.Errorf("buckets hold %d samples, count is %d", n, s.Count)
	}
	// test_many's values are a known sequence: 0..999 in each iteration.
	if s.Min != 0 || s.Max != 999 || s.Sum != s.Count/1000*999*1000/2 {
		t.Errorf("min %d, max %d, sum %d over %d: want 0, 999 and %d", s.Min, s.Max, s.Sum, s.Count, s.Count/1000*999*1000/2)
	}
	if want := fmt.Sprintf("a uniform reservoir of %d of the %d samples", MaxWakeSamples, r.WakeSampleTotal); !strings.HasPrefix(r.WakeLatenciesNote, want) {
		t.Errorf("note %q, want it to start %q", r.WakeLatenciesNote, want)
	}
}
