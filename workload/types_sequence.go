package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// sequenceTypes holds Sequence, which loops through a list of phases.
var sequenceTypes = []Type{{
	Name: "Sequence", Ctor: "sequence",
	Doc:     "Run the phases in order, forever: spin, sleep, sched_yield, scratch-file IO or AluHot's chains, each for its duration.",
	Example: map[string]any{"phases": []Phase{SpinPhase(50 * time.Microsecond), SleepPhase(50 * time.Microsecond), YieldPhase(50 * time.Microsecond), IoPhase(50 * time.Microsecond), AluHotPhase(50*time.Microsecond, "Widest")}},
	Params: []Param{{
		Name: "phases", Kind: KindPhases, Default: []Phase{},
		Doc: "the phases, e.g. [phase.spin(\"100ms\"), phase.sleep(\"50ms\")]; at least one",
	}},
	Validate: func(w Work) error {
		if len(w.Phases("phases")) == 0 {
			return fmt.Errorf("phases = []: at least one phase is needed")
		}
		return nil
	},
	Sample:      SamplePhase,
	CostSamples: true, // alu_hot phases
	Scratch: func(w Work, token string) []string {
		if !slices.ContainsFunc(w.Phases("phases"), func(p Phase) bool { return p.Kind == PhaseIo }) {
			return nil
		}
		// The Io phase always uses a scratch file, never a device (spec §4 rule 7).
		return []string{filepath.Join(scratchDir(""), "seq-"+token)}
	},
	New: newSequence,
}}

// seqPhase is one phase with its report counters named up front, so the
// loop does not build strings: phase<i>_<kind>_runs counts completed
// visits, _ns their total time and _first_ns when the first visit began
// (ns since the start gate opened), so tests can check order and durations.
type seqPhase struct {
	Phase
	runs, ns, first string
	started         bool
	alu             aluImpl // the resolved chain of an alu_hot phase
}

type sequence struct {
	w      *Worker
	phases []seqPhase
	fd     int // Io phase scratch file, -1 if none
	path   string
	buf    []byte
	sink   uint64 // keeps the alu_hot chains' results live
}

func newSequence(w *Worker) (Body, error) {
	b := &sequence{w: w, fd: -1}
	for i, p := range w.work.Phases("phases") {
		prefix := fmt.Sprintf("phase%d_%s_", i, p.Kind)
		sp := seqPhase{Phase: p, runs: prefix + "runs", ns: prefix + "ns", first: prefix + "first_ns"}
		// Counters exist before the loop, so counting never grows the map there.
		for _, c := range []string{sp.runs, sp.ns, sp.first} {
			w.Count(c, 0)
		}
		if p.Kind == PhaseAlu {
			impl, err := resolveAluWidth(p.Width)
			if err != nil {
				return nil, fmt.Errorf("phase %d (%s): %w", i, p, err)
			}
			sp.alu = impl
		}
		b.phases = append(b.phases, sp)
	}
	if paths := w.work.Type().Scratch(w.work, w.spec.Token); len(paths) > 0 {
		b.path = paths[0]
		if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
			return nil, fmt.Errorf("io phase: scratch dir: %w", err)
		}
		fd, err := unix.Open(b.path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("io phase: create scratch file: %w", err)
		}
		b.fd, b.buf = fd, make([]byte, ioBlock)
	}
	return b, nil
}

func (b *sequence) Step() bool {
	w := b.w
	for i := range b.phases {
		p := &b.phases[i]
		if w.Stopped() {
			return true
		}
		t0 := nanotime()
		if !p.started {
			p.started = true
			w.counters[p.first] = uint64(t0 - w.start)
		}
		if b.run(p, int64(p.Duration)) {
			w.Count(p.runs, 1)
			w.Count(p.ns, uint64(nanotime()-t0))
		}
	}
	return true
}

// run runs one phase and reports whether it ran its full duration.
func (b *sequence) run(p *seqPhase, d int64) bool {
	w := b.w
	end := nanotime() + d
	switch p.Kind {
	case PhaseSpin:
		spinUntil(w, end, 1024)
	case PhaseSleep:
		t0 := nanotime()
		sleepFull(time.Duration(d))
		w.WakeSample(nanotime() - t0)
		w.ResetGap()
	case PhaseYield:
		for k := 0; ; k++ {
			if k%64 == 0 && (nanotime() >= end || w.Stopped()) {
				break
			}
			w.AddUnits(1)
			t0 := nanotime()
			schedYield()
			w.WakeSample(nanotime() - t0)
		}
		w.ResetGap()
	case PhaseIo:
		for nanotime() < end && !w.Stopped() {
			unix.Ftruncate(b.fd, 0)
			for i := range int64(16) {
				unix.Pwrite(b.fd, b.buf, i*ioBlock)
				w.AddUnits(1)
			}
			t0 := nanotime()
			sleepFull(100 * time.Microsecond)
			w.WakeSample(nanotime() - t0)
		}
		w.ResetGap()
	case PhaseAlu:
		for nanotime() < end && !w.Stopped() {
			t0 := nanotime()
			b.sink ^= p.alu.chain(1024)
			w.costSample(nanotime() - t0)
			w.AddUnits(1024)
		}
	}
	return !w.Stopped()
}

// Close closes and unlinks the Io phase's scratch file.
func (b *sequence) Close() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		os.Remove(b.path)
	}
}

// spinUntil spins in bursts of chunk steps until the monotonic clock
// reaches deadline or the worker is told to stop.
func spinUntil(w *Worker, deadline int64, chunk uint64) {
	for nanotime() < deadline && !w.Stopped() {
		w.SpinBurst(chunk)
	}
}
