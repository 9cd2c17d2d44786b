package workload

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAluHotWidths(t *testing.T) {
	for _, impl := range aluWidths() {
		t.Run(impl.width, func(t *testing.T) {
			// Each chain is deterministic and never collapses to zero.
			if a, b := impl.chain(1000), impl.chain(1000); a != b || a == 0 {
				t.Fatalf("chain(1000) = %#x then %#x, want equal and non-zero", a, b)
			}
			r := runFor(t, Config{Work: MustWork("AluHot", map[string]any{"width": impl.width})}, 100*time.Millisecond)[0]
			if r.WorkUnits == 0 || r.WorkUnits != 1024*r.Iterations {
				t.Errorf("work_units = %d, iterations = %d; want 1024 per iteration", r.WorkUnits, r.Iterations)
			}
			if got := r.Extra["resolved_width"]; got != impl.width {
				t.Errorf("resolved_width = %v, want %s", got, impl.width)
			}
		})
	}
}

func TestAluHotWidest(t *testing.T) {
	ws := aluWidths()
	impl, err := resolveAluWidth("Widest")
	if err != nil || impl.width != ws[len(ws)-1].width {
		t.Fatalf("Widest resolved to %q, %v; want %q", impl.width, err, ws[len(ws)-1].width)
	}
}

func TestAluHotMissingWidthFailsSpawn(t *testing.T) {
	// The host may have every width; an unknown width name stands in for
	// one the CPU lacks, since both take the same path.
	if _, err := resolveAluWidth("Vec1024"); err == nil || !strings.Contains(err.Error(), "cannot run") {
		t.Fatalf("resolve Vec1024: %v, want an error saying the CPU cannot run it", err)
	}
}

func TestIpcVariance(t *testing.T) {
	work := MustWork("IpcVariance", map[string]any{"hot_iters": 1000, "cold_iters": 100, "period_iters": 4})
	r := runFor(t, Config{Work: work}, 100*time.Millisecond)[0]
	full := r.Counters["complete_iterations"]
	per := uint64(4 * (1000 + 100))
	// Only the iteration cut short by stop may be partial.
	if full == 0 || r.Iterations-full > 1 || r.WorkUnits < full*per || r.WorkUnits >= (full+1)*per {
		t.Fatalf("iterations = %d, complete = %d, work_units = %d; want %d units per complete iteration", r.Iterations, full, r.WorkUnits, per)
	}
}

// TestIterationCosts checks which types fill iteration_costs_ns (exactly
// those declaring CostSamples: the three of the spec, and Sequence for its
// alu_hot phase, tested in TestSequenceAluHotPhase) and that each
// complete iteration is one positive sample.
func TestIterationCosts(t *testing.T) {
	var declared []string
	for _, typ := range Types() {
		if typ.CostSamples {
			declared = append(declared, typ.Name)
		}
	}
	if want := []string{"AluHot", "IpcVariance", "Sequence", "SmtSiblingSpin"}; !slices.Equal(declared, want) {
		// Catalog order puts AluHot and IpcVariance first, SmtSiblingSpin later.
		t.Errorf("types with CostSamples: %v, want %v", declared, want)
	}
	for _, tc := range []struct {
		cfg      Config
		complete func(r Report) uint64 // iterations that must each be one sample
	}{
		{Config{Workers: 1, Work: MustWork("AluHot", map[string]any{"width": "Scalar"})}, func(r Report) uint64 { return r.Iterations }},
		{Config{Workers: 1, Work: MustWork("IpcVariance", map[string]any{"hot_iters": 1000, "cold_iters": 100, "period_iters": 4})}, func(r Report) uint64 { return r.Counters["complete_iterations"] }},
		{Config{Workers: 2, Work: MustWork("SmtSiblingSpin", nil)}, func(r Report) uint64 { return r.Iterations }},
		{Config{Workers: 1, Work: MustWork("SpinWait", nil)}, func(Report) uint64 { return 0 }},
	} {
		t.Run(tc.cfg.Work.Name(), func(t *testing.T) {
			for _, r := range runFor(t, tc.cfg, 100*time.Millisecond) {
				want := tc.complete(r)
				if r.IterationCostSampleTotal != want || uint64(len(r.IterationCostsNs)) != min(want, MaxCostSamples) {
					t.Errorf("worker %d: %d cost samples (%d kept) over %d complete iterations; want one each",
						r.Tid, r.IterationCostSampleTotal, len(r.IterationCostsNs), want)
				}
				if slices.Contains(r.IterationCostsNs, 0) {
					t.Errorf("worker %d: a zero iteration cost in %v", r.Tid, r.IterationCostsNs[:min(len(r.IterationCostsNs), 10)])
				}
			}
		})
	}
}

func TestIdleChurnWakeSamples(t *testing.T) {
	work := MustWork("IdleChurn", map[string]any{"burst_duration": "200us", "sleep_duration": "1ms", "precise_timing": true})
	r := runFor(t, Config{Work: work}, 100*time.Millisecond)[0]
	if r.WakeSampleTotal == 0 || r.WakeSampleTotal+1 < r.Iterations {
		t.Fatalf("wake samples = %d over %d iterations; want one per completed sleep", r.WakeSampleTotal, r.Iterations)
	}
	if r.WorkUnits%256 != 0 {
		t.Errorf("work_units = %d, want a multiple of 256", r.WorkUnits)
	}
	// Sleeping most of the time: off-CPU time must dominate.
	if r.OffCPUNs < r.CPUTimeNs {
		t.Errorf("off_cpu_ns = %d < cpu_time_ns = %d for a mostly sleeping worker", r.OffCPUNs, r.CPUTimeNs)
	}
}

func TestCacheTypes(t *testing.T) {
	for _, name := range []string{"CachePressure", "CacheYield"} {
		t.Run(name, func(t *testing.T) {
			r := runFor(t, Config{Work: MustWork(name, map[string]any{"size_kib": 64, "stride": 128})}, 100*time.Millisecond)[0]
			if r.Iterations == 0 || r.WorkUnits != 1024*r.Iterations {
				t.Fatalf("work_units = %d, iterations = %d; want 1024 per iteration", r.WorkUnits, r.Iterations)
			}
			wantSamples := uint64(0)
			if name == "CacheYield" {
				wantSamples = r.Iterations
			}
			if r.WakeSampleTotal != wantSamples {
				t.Errorf("wake samples = %d, want %d", r.WakeSampleTotal, wantSamples)
			}
		})
	}
}

// cacheRMW touches exactly the bytes the C reference does: steps bytes,
// stride apart from 0, wrapping modulo the length, every call from 0.
func TestCacheRMWTouches(t *testing.T) {
	for _, tc := range []struct{ n, stride, steps int }{
		{n: 64, stride: 64, steps: 3},
		{n: 100, stride: 7, steps: 50},
		{n: 4096, stride: 64, steps: 1024},
		{n: 3, stride: 1 << 20, steps: 10},
	} {
		buf := make([]byte, tc.n)
		want := make([]byte, tc.n)
		for range 2 {
			cacheRMW(buf, tc.stride, tc.steps)
			for i, idx := 0, 0; i < tc.steps; i++ {
				want[idx]++
				idx = (idx + tc.stride) % tc.n
			}
		}
		if !slices.Equal(buf, want) {
			t.Errorf("n=%d stride=%d steps=%d: bytes differ from the reference walk", tc.n, tc.stride, tc.steps)
		}
	}
}
