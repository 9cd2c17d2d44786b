package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSequencePhasesInOrder(t *testing.T) {
	phases := []Phase{SpinPhase(20 * time.Millisecond), SleepPhase(10 * time.Millisecond), YieldPhase(10 * time.Millisecond), IoPhase(10 * time.Millisecond)}
	work := MustWork("Sequence", map[string]any{"phases": phases})
	r := runFor(t, Config{Work: work}, 300*time.Millisecond)[0]
	c := r.Counters
	var prevFirst, prevRuns uint64
	for i, p := range phases {
		key := fmt.Sprintf("phase%d_%s_", i, p.Kind)
		runs, ns, first := c[key+"runs"], c[key+"ns"], c[key+"first_ns"]
		if runs == 0 {
			t.Fatalf("%s never completed: counters %v", p, c)
		}
		// Completed visits are at least as long as asked for.
		if ns < runs*uint64(p.Duration) {
			t.Errorf("%s: %d runs took %v in all, want at least %v each", p, runs, time.Duration(ns), p.Duration)
		}
		// In order: each phase first starts after the one before it, and
		// a later phase has completed as often, or once less (cut by stop).
		if i > 0 && (first <= prevFirst || runs > prevRuns || prevRuns-runs > 1) {
			t.Errorf("%s: first start %d ns, %d runs; previous phase %d ns, %d runs: out of order", p, first, runs, prevFirst, prevRuns)
		}
		prevFirst, prevRuns = first, runs
	}
	if r.WakeSampleTotal == 0 {
		t.Error("no wake samples from the sleep, yield and io phases")
	}
	if left, _ := filepath.Glob(filepath.Join(scratchDir(""), fmt.Sprintf("seq-%d-*", os.Getpid()))); len(left) > 0 {
		t.Errorf("io phase scratch files left: %v", left)
	}
}

func TestSequenceWakeSamplesPerPhaseKind(t *testing.T) {
	for _, p := range []Phase{SleepPhase(5 * time.Millisecond), YieldPhase(5 * time.Millisecond)} {
		r := runFor(t, Config{Work: MustWork("Sequence", map[string]any{"phases": []Phase{p}})}, 100*time.Millisecond)[0]
		if r.WakeSampleTotal == 0 {
			t.Errorf("sequence([%s]): no wake samples", p)
		}
	}
}

func TestSequenceJSONRoundTrip(t *testing.T) {
	work := MustWork("Sequence", map[string]any{"phases": []Phase{SpinPhase(100 * time.Millisecond), YieldPhase(20 * time.Millisecond)}})
	data, err := work.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"Sequence","params":{"phases":[{"kind":"spin","duration":"100ms"},{"kind":"yield","duration":"20ms"}]}}`
	if string(data) != want {
		t.Fatalf("JSON = %s, want %s", data, want)
	}
	var back Work
	if err := back.UnmarshalJSON(data); err != nil || back.String() != work.String() {
		t.Fatalf("round trip: %v, %v; want %v", back, err, work)
	}
	if got := work.String(); got != `work.sequence(phases = [phase.spin("100ms"), phase.sched_yield("20ms")])` {
		t.Errorf("String() = %s", got)
	}
}
