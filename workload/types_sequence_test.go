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

// TestSequenceAluHotPhase checks that an alu_hot phase runs AluHot's
// chains: iteration-cost samples, 1024 work units each, and the phase's
// time accounted like any other phase's.
func TestSequenceAluHotPhase(t *testing.T) {
	phases := []Phase{AluHotPhase(50*time.Millisecond, "Scalar"), SleepPhase(5 * time.Millisecond)}
	r := runFor(t, Config{Work: MustWork("Sequence", map[string]any{"phases": phases})}, 200*time.Millisecond)[0]
	if r.IterationCostSampleTotal == 0 || uint64(len(r.IterationCostsNs)) != min(r.IterationCostSampleTotal, MaxCostSamples) {
		t.Fatalf("%d iteration-cost samples held of %d: want some, up to the reservoir's cap", len(r.IterationCostsNs), r.IterationCostSampleTotal)
	}
	if r.WorkUnits != 1024*r.IterationCostSampleTotal {
		t.Errorf("work_units = %d for %d chains, want 1024 each", r.WorkUnits, r.IterationCostSampleTotal)
	}
	if runs := cnt(t, r, "phase0_alu_hot_runs"); runs == 0 || cnt(t, r, "phase0_alu_hot_ns") < runs*uint64(50*time.Millisecond) {
		t.Errorf("alu_hot phase counters %v: want completed runs of at least 50ms each", r.Counters)
	}
	if r.WakeSampleTotal == 0 {
		t.Error("the sleep phase after the alu_hot phase took no wake sample")
	}
}

func TestAluHotPhaseValues(t *testing.T) {
	for _, tc := range []struct {
		kind  PhaseKind
		width string
		want  string // the phase's String, or the error
	}{
		{PhaseAlu, "", `phase.alu_hot("50ms", width = "Widest")`},
		{PhaseAlu, "Scalar", `phase.alu_hot("50ms", width = "Scalar")`},
		{PhaseAlu, "Amx", `width = "Amx" is out of range (allowed: one of "Widest", "Scalar", "Vec128", "Vec256", "Vec512")`},
		{PhaseSpin, "Scalar", `width = "Scalar": only an alu_hot phase has a width`},
	} {
		p, err := NewPhase(tc.kind, "50ms", tc.width)
		got := p.String()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("NewPhase(%s, 50ms, %q) = %s, want %s", tc.kind, tc.width, got, tc.want)
		}
	}
	work := MustWork("Sequence", map[string]any{"phases": []Phase{AluHotPhase(time.Second, "Scalar")}})
	data, _ := work.MarshalJSON()
	var back Work
	if err := back.UnmarshalJSON(data); err != nil || back.String() != work.String() {
		t.Errorf("JSON %s round trip: %v, %v; want %v", data, back, err, work)
	}
}
