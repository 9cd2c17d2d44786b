package workload

import (
	"slices"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// epochBody is a scenario in one worker: at iteration switches[i] it
// writes epochs[i] into its own epoch word, as SetPhaseEpoch would, and at
// iteration total it sets the stop word. Each iteration does units work
// units and records samples wake samples. Writing the word from the body
// makes every slice's iteration count exact.
type epochBody struct {
	w                *Worker
	n                int
	switches         []int
	epochs           []uint32
	total            int
	units, samples   int
	epochWord, stopW *uint32
}

func (b *epochBody) Step() bool {
	b.n++
	b.w.AddUnits(uint64(b.units))
	for range b.samples {
		b.w.WakeSample(int64(b.n))
	}
	if i := slices.Index(b.switches, b.n); i >= 0 {
		atomic.StoreUint32(b.epochWord, b.epochs[i])
	}
	if b.n == b.total {
		atomic.StoreUint32(b.stopW, 1)
	}
	return true
}

// newEpochWorker is an in-process worker whose body runs a three-step
// scenario: baseline, step 0, gap, step 1, gap, step 2, gap.
func newEpochWorker(t *testing.T, units, samples int) (*Worker, *epochBody) {
	w := newTestWorker(t, MustWork("SpinWait", nil))
	w.cpu = cpuReader()
	w.declared = SampleWake
	b := &epochBody{
		w: w, units: units, samples: samples, total: 700,
		switches:  []int{100, 200, 250, 400, 450, 600},
		epochs:    []uint32{1, PhaseGap, 2, PhaseGap, 3, PhaseGap},
		epochWord: w.ph.epoch, stopW: w.stop,
	}
	return w, b
}

// TestPhaseSlices checks the cut at each epoch change in a worker's loop
// (runtime.md §5.5): one slice per phase in order, iterations and work
// units exact per phase and summing to the report's, and the parent's
// StepSlices keeping one slice per step.
func TestPhaseSlices(t *testing.T) {
	w, b := newEpochWorker(t, 3, 0)
	r := w.run(b)
	wantEpochs := []uint32{PhaseBaseline, 1, PhaseGap, 2, PhaseGap, 3, PhaseGap}
	wantIters := []uint64{100, 100, 50, 150, 50, 150, 100}
	if len(r.PhaseSlices) != len(wantEpochs) {
		t.Fatalf("%d slices, want %d: %+v", len(r.PhaseSlices), len(wantEpochs), r.PhaseSlices)
	}
	var iters, units uint64
	for i, s := range r.PhaseSlices {
		if s.PhaseEpoch != wantEpochs[i] || s.Iterations != wantIters[i] || s.WorkUnits != 3*wantIters[i] {
			t.Errorf("slice %d: epoch %#x, %d iterations, %d units; want epoch %#x, %d, %d",
				i, s.PhaseEpoch, s.Iterations, s.WorkUnits, wantEpochs[i], wantIters[i], 3*wantIters[i])
		}
		if len(s.CPUsUsed) == 0 {
			t.Errorf("slice %d: no CPU, want at least the one it started on", i)
		}
		if s.WallNs == 0 || s.WallNs < s.OffCPUNs {
			t.Errorf("slice %d: wall %d ns, off-CPU %d ns", i, s.WallNs, s.OffCPUNs)
		}
		iters += s.Iterations
		units += s.WorkUnits
	}
	if iters != r.Iterations || units != r.WorkUnits || r.Iterations != 700 {
		t.Errorf("slices sum to %d iterations and %d units; report %d and %d (want 700 iterations)", iters, units, r.Iterations, r.WorkUnits)
	}
	steps := StepSlices(r.PhaseSlices)
	if len(steps) != 3 {
		t.Fatalf("StepSlices kept %d, want one per step (3)", len(steps))
	}
	for k, s := range steps {
		if n, ok := s.Step(); !ok || n != k {
			t.Errorf("step slice %d is of step %d (%v)", k, n, ok)
		}
		sr, ok := r.StepReport(k)
		if !ok || sr.Iterations != s.Iterations || !slices.Equal(sr.CPUsUsed, s.CPUsUsed) || sr.Tid != r.Tid {
			t.Errorf("StepReport(%d) = %+v, %v; want the slice's figures", k, sr, ok)
		}
	}
	if _, ok := r.StepReport(3); ok {
		t.Error("StepReport(3) found a slice of a step that did not run")
	}
}

// TestPhaseSliceCPUs checks which phase a CPU belongs to when a scenario
// moves the worker between its epoch writes (a cpuset swap), faked here
// by the worker's CPU reader: the reading at the checkpoint that sees the
// change starts the new phase, so the phase before never shows the CPU
// the worker was moved to, even when the worker did not run between the
// gap write and the move.
func TestPhaseSliceCPUs(t *testing.T) {
	w, b := newEpochWorker(t, 1, 0)
	cpu := 3
	w.cpu = func() int { return cpu }
	b.switches, b.epochs = []int{100, 200, 300}, []uint32{1, 2, PhaseGap}
	moves := map[int]int{100: 5, 200: 7} // the move lands with the next step's epoch
	body := stepFunc(func() bool {
		if c, ok := moves[b.n+1]; ok {
			cpu = c
		}
		return b.Step()
	})
	r := w.run(body)
	want := [][]int{{3}, {5}, {7}, {7}}
	if len(r.PhaseSlices) != len(want) {
		t.Fatalf("%d slices, want %d", len(r.PhaseSlices), len(want))
	}
	for i, s := range r.PhaseSlices {
		if !slices.Equal(s.CPUsUsed, want[i]) {
			t.Errorf("slice %d (epoch %#x): cpus_used %v, want %v", i, s.PhaseEpoch, s.CPUsUsed, want[i])
		}
	}
	if got := r.PhaseSlices[1].MigrationCount + r.PhaseSlices[2].MigrationCount; r.MigrationCount != 2 || got != 2 {
		t.Errorf("migrations: %d in the report, %d in steps 0 and 1; want 2 and 2 (each move in the step it starts)", r.MigrationCount, got)
	}
}

// stepFunc is a Body of one function.
type stepFunc func() bool

func (f stepFunc) Step() bool { return f() }

// TestStepSlicesFill checks what the parent keeps of a worker's slices:
// one per step the handle wrote, in order, the worker's own or an empty
// one for a step it did not run in; baseline and gap slices dropped.
func TestStepSlicesFill(t *testing.T) {
	seen := []PhaseSlice{{PhaseEpoch: PhaseBaseline, Iterations: 1}, {PhaseEpoch: 1, Iterations: 2}, {PhaseEpoch: PhaseGap, Iterations: 3}, {PhaseEpoch: 3, Iterations: 4}}
	for _, c := range []struct {
		name   string
		steps  []uint32
		epochs []uint32
		iters  []uint64
	}{
		{"every step written", []uint32{1, 2, 3}, []uint32{1, 2, 3}, []uint64{2, 0, 4}},
		{"no step written", nil, []uint32{1, 3}, []uint64{2, 4}},
		{"fewer steps written", []uint32{1}, []uint32{1}, []uint64{2}},
	} {
		got := stepSlices(seen, c.steps)
		var epochs []uint32
		var iters []uint64
		for _, s := range got {
			epochs, iters = append(epochs, s.PhaseEpoch), append(iters, s.Iterations)
			if s.Iterations == 0 && (s.CPUsUsed == nil || s.WakeLatenciesNs == nil) {
				t.Errorf("%s: slice %#x has nil lists, want empty ones", c.name, s.PhaseEpoch)
			}
		}
		if !slices.Equal(epochs, c.epochs) || !slices.Equal(iters, c.iters) {
			t.Errorf("%s: epochs %v iterations %v, want %v %v", c.name, epochs, iters, c.epochs, c.iters)
		}
	}
}

// TestPhaseSlicesWithoutChange checks that a worker whose epoch word
// never changes (every handle outside a scenario's backdrop) reports no
// slices, nor does one built without the word.
func TestPhaseSlicesWithoutChange(t *testing.T) {
	for _, word := range []bool{true, false} {
		w, b := newEpochWorker(t, 1, 0)
		b.switches = nil
		if !word {
			w.ph.epoch = nil
		}
		if r := w.run(b); r.PhaseSlices != nil || r.Iterations != 700 {
			t.Errorf("epoch word %v: %d iterations, slices %+v; want 700 and none", word, r.Iterations, r.PhaseSlices)
		}
	}
}

// TestPhaseReservoir checks the per-phase wake reservoir: at most
// MaxPhaseSamples kept, the phase's whole population counted, and the
// whole-run reservoir unaffected.
func TestPhaseReservoir(t *testing.T) {
	w, b := newEpochWorker(t, 1, 100) // 100 samples an iteration: 10,000 to 15,000 a phase
	r := w.run(b)
	if len(r.PhaseSlices) != 7 {
		t.Fatalf("%d slices, want 7", len(r.PhaseSlices))
	}
	var total uint64
	for i, s := range r.PhaseSlices {
		want := 100 * s.Iterations
		if s.WakeSampleTotal != want || len(s.WakeLatenciesNs) != int(min(want, MaxPhaseSamples)) {
			t.Errorf("slice %d: %d samples kept of %d; want %d of %d", i, len(s.WakeLatenciesNs), s.WakeSampleTotal, min(want, MaxPhaseSamples), want)
		}
		total += s.WakeSampleTotal
	}
	if total != r.WakeSampleTotal || r.WakeSampleTotal != 70_000 || len(r.WakeLatenciesNs) != 70_000 {
		t.Errorf("slices hold %d samples; report %d (%d kept), want 70000", total, r.WakeSampleTotal, len(r.WakeLatenciesNs))
	}
	// Slices do not share storage: the first step's samples are its own.
	first := r.PhaseSlices[1].WakeLatenciesNs
	for _, v := range first {
		if v <= 100 || v > 200 {
			t.Fatalf("step 0's reservoir holds %d, a sample of another phase (want 101..200)", v)
		}
	}
}

// TestPhaseChangeDoesNotAllocate checks that the loop tail allocates
// nothing, with or without a phase change (within phaseReserve phases).
func TestPhaseChangeDoesNotAllocate(t *testing.T) {
	w := newTestWorker(t, MustWork("SpinWait", nil))
	w.cpu = cpuReader()
	w.declared = SampleWake
	w.reservePhases(true)
	w.begin(nanotime())
	w.beginPhases(w.start, w.cpu())
	defer unix.Close(w.ph.schedFd)
	epoch := uint32(0)
	change := testing.AllocsPerRun(phaseReserve/2, func() {
		epoch++
		atomic.StoreUint32(w.ph.epoch, epoch)
		w.WakeSample(42)
		w.tail()
	})
	steady := testing.AllocsPerRun(1000, func() { w.WakeSample(42); w.tail() })
	if change != 0 || steady != 0 {
		t.Errorf("loop tail: %.1f allocations with a phase change, %.1f without; want 0", change, steady)
	}
	if len(w.ph.done) != phaseReserve/2+1 {
		t.Errorf("%d phases closed, want %d", len(w.ph.done), phaseReserve/2+1)
	}
}

// BenchmarkTailEpochCheck is the cost of the loop tail, epoch check
// included, when no phase changes.
func BenchmarkTailEpochCheck(b *testing.B) {
	w := newTestWorker(b, MustWork("SpinWait", nil))
	w.cpu = cpuReader()
	w.reservePhases(false)
	w.begin(nanotime())
	w.beginPhases(w.start, w.cpu())
	defer unix.Close(w.ph.schedFd)
	b.ReportAllocs()
	for range b.N {
		w.AddUnits(1)
		w.tail()
	}
}

// TestSetPhaseEpoch drives a real worker through three steps with
// SetPhaseEpoch, waiting after each write until the worker has published
// progress made after it (so it saw the write): its report carries one
// slice per step, with its loop allocation-free and the slices' counts
// inside the report's.
func TestSetPhaseEpoch(t *testing.T) {
	leakCheck(t)
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("SpinWait", nil)})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	seen := func() {
		t.Helper()
		waitProgress(t, h, slices.Max(h.SnapshotIterations())+1)
	}
	seen()
	for k := range 3 {
		h.SetPhaseEpoch(uint32(k + 1))
		seen()
		h.SetPhaseEpoch(PhaseGap)
		seen()
	}
	for i, r := range stopWork(t, h) {
		if len(r.PhaseSlices) != 3 {
			t.Fatalf("worker %d: %d slices, want one per step (3): %+v", i, len(r.PhaseSlices), r.PhaseSlices)
		}
		var iters uint64
		for k, s := range r.PhaseSlices {
			if s.PhaseEpoch != uint32(k+1) || s.Iterations == 0 || len(s.CPUsUsed) == 0 {
				t.Errorf("worker %d slice %d: epoch %d, %d iterations, CPUs %v; want epoch %d, work and a CPU", i, k, s.PhaseEpoch, s.Iterations, s.CPUsUsed, k+1)
			}
			iters += s.Iterations
		}
		if iters >= r.Iterations {
			t.Errorf("worker %d: steps hold %d of %d iterations; want fewer (the baseline and gaps ran too)", i, iters, r.Iterations)
		}
		if r.LoopAllocs != 0 && r.LoopNewThreads == 0 {
			t.Errorf("worker %d: %d allocations in the loop, want 0", i, r.LoopAllocs)
		}
	}
}
