package workload

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PhaseKind names what one Sequence phase does.
type PhaseKind string

// Sequence phase kinds; the values are ktstr's wire names.
const (
	PhaseSpin  PhaseKind = "spin"    // spin bursts of 1024 until the duration elapses
	PhaseSleep PhaseKind = "sleep"   // one nanosleep of the duration, sampled
	PhaseYield PhaseKind = "yield"   // sched_yield repeatedly for the duration, each sampled
	PhaseIo    PhaseKind = "io"      // 16 × 4 KiB writes to a scratch file + 100 µs sleep, repeated
	PhaseAlu   PhaseKind = "alu_hot" // AluHot's multiply chains of 1024 steps, each an iteration-cost sample
)

// PhaseKindInfo describes one phase kind for generated constructors and
// docs: Ctor is the script-facing function name (`yield` is reserved in
// Starlark, so the yield phase is `sched_yield`). Width, when non-nil, is
// the optional width keyword the kind takes (AluHot's own parameter).
type PhaseKindInfo struct {
	Kind  PhaseKind
	Ctor  string
	Doc   string
	Width *Param
}

var phaseKinds = []PhaseKindInfo{
	{PhaseSpin, "spin", "spin bursts of 1024 steps until the duration elapses", nil},
	{PhaseSleep, "sleep", "one sleep of the duration; the observed sleep is a wake sample", nil},
	{PhaseYield, "sched_yield", "sched_yield repeatedly for the duration; each yield is a wake sample", nil},
	{PhaseIo, "io", "16 × 4 KiB writes to a scratch file then a 100 µs sleep (a wake sample), until the duration elapses", nil},
	{PhaseAlu, "alu_hot", "AluHot's four multiply chains, 1024 steps at a time (each an iteration-cost sample), until the duration elapses", &aluWidthParam},
}

// PhaseKinds lists every phase kind, in the order docs show them.
func PhaseKinds() []PhaseKindInfo { return slices.Clone(phaseKinds) }

func phaseKindInfo(k PhaseKind) (PhaseKindInfo, bool) {
	for _, pk := range phaseKinds {
		if pk.Kind == k {
			return pk, true
		}
	}
	return PhaseKindInfo{}, false
}

// Phase is one step of a Sequence work type: a kind and how long it lasts.
// It encodes to JSON as {"kind": "spin", "duration": "100ms"}, with
// "width" added for an AluHot phase.
type Phase struct {
	Kind     PhaseKind
	Duration time.Duration
	Width    string // AluHot phases only: the data-path width, as AluHot's width parameter
}

// SpinPhase spins for d.
func SpinPhase(d time.Duration) Phase { return Phase{Kind: PhaseSpin, Duration: d} }

// SleepPhase sleeps once for d.
func SleepPhase(d time.Duration) Phase { return Phase{Kind: PhaseSleep, Duration: d} }

// YieldPhase calls sched_yield repeatedly for d.
func YieldPhase(d time.Duration) Phase { return Phase{Kind: PhaseYield, Duration: d} }

// IoPhase writes to a scratch file and sleeps briefly, repeatedly, for d.
func IoPhase(d time.Duration) Phase { return Phase{Kind: PhaseIo, Duration: d} }

// AluHotPhase runs AluHot's chains at width ("Widest", "Scalar", …) for d.
func AluHotPhase(d time.Duration, width string) Phase {
	return Phase{Kind: PhaseAlu, Duration: d, Width: width}
}

// String renders the phase as its script constructor, e.g.
// phase.spin("100ms") or phase.alu_hot("50ms", width = "Widest").
func (p Phase) String() string {
	ctor := string(p.Kind)
	if info, ok := phaseKindInfo(p.Kind); ok {
		ctor = info.Ctor
	}
	if p.Width != "" {
		return fmt.Sprintf("phase.%s(%q, width = %q)", ctor, p.Duration, p.Width)
	}
	return fmt.Sprintf("phase.%s(%q)", ctor, p.Duration)
}

type wirePhase struct {
	Kind     PhaseKind `json:"kind"`
	Duration string    `json:"duration"`
	Width    string    `json:"width,omitempty"`
}

// MarshalJSON encodes the kind and the duration as a string like "100ms".
func (p Phase) MarshalJSON() ([]byte, error) {
	return json.Marshal(wirePhase{p.Kind, p.Duration.String(), p.Width})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (p *Phase) UnmarshalJSON(data []byte) error {
	var wp wirePhase
	if err := json.Unmarshal(data, &wp); err != nil {
		return err
	}
	ph, err := NewPhase(wp.Kind, wp.Duration, wp.Width)
	if err != nil {
		return fmt.Errorf("phase %s: %w", wp.Kind, err)
	}
	*p = ph
	return nil
}

// NewPhase builds a phase from a kind, a duration given as a
// time.Duration or a string like "50ms", and a width for the kinds that
// take one ("" for the others, or for the width's default). It does not
// check the duration's range: Sequence does, with the other parameters.
func NewPhase(kind PhaseKind, dur any, width string) (Phase, error) {
	info, ok := phaseKindInfo(kind)
	if !ok {
		kinds := make([]string, len(phaseKinds))
		for i, pk := range phaseKinds {
			kinds[i] = string(pk.Kind)
		}
		return Phase{}, fmt.Errorf("unknown phase kind %q (allowed: %s)", kind, strings.Join(kinds, ", "))
	}
	p := Param{Name: "duration", Kind: KindDuration}
	d, err := p.convert(dur)
	if err != nil {
		return Phase{}, err
	}
	ph := Phase{Kind: kind, Duration: d.(time.Duration)}
	switch wp := info.Width; {
	case wp == nil && width != "":
		return Phase{}, fmt.Errorf("width = %q: only an alu_hot phase has a width", width)
	case wp == nil:
	case width == "":
		ph.Width = wp.Default.(string)
	case !wp.Kind.spec().valid(wp, width):
		return Phase{}, fmt.Errorf("width = %q is out of range (allowed: %s)", width, wp.Range())
	default:
		ph.Width = width
	}
	return ph, nil
}
