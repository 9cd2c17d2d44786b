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
	PhaseSpin  PhaseKind = "spin"  // spin bursts of 1024 until the duration elapses
	PhaseSleep PhaseKind = "sleep" // one nanosleep of the duration, sampled
	PhaseYield PhaseKind = "yield" // sched_yield repeatedly for the duration, each sampled
	PhaseIo    PhaseKind = "io"    // 16 × 4 KiB writes to a scratch file + 100 µs sleep, repeated
)

// PhaseKindInfo describes one phase kind for generated constructors and
// docs: Ctor is the script-facing function name (`yield` is reserved in
// Starlark, so the yield phase is `sched_yield`).
type PhaseKindInfo struct {
	Kind PhaseKind
	Ctor string
	Doc  string
}

var phaseKinds = []PhaseKindInfo{
	{PhaseSpin, "spin", "spin bursts of 1024 steps until the duration elapses"},
	{PhaseSleep, "sleep", "one sleep of the duration; the observed sleep is a wake sample"},
	{PhaseYield, "sched_yield", "sched_yield repeatedly for the duration; each yield is a wake sample"},
	{PhaseIo, "io", "16 × 4 KiB writes to a scratch file then a 100 µs sleep (a wake sample), until the duration elapses"},
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
// It encodes to JSON as {"kind": "spin", "duration": "100ms"}.
type Phase struct {
	Kind     PhaseKind
	Duration time.Duration
}

// SpinPhase spins for d.
func SpinPhase(d time.Duration) Phase { return Phase{PhaseSpin, d} }

// SleepPhase sleeps once for d.
func SleepPhase(d time.Duration) Phase { return Phase{PhaseSleep, d} }

// YieldPhase calls sched_yield repeatedly for d.
func YieldPhase(d time.Duration) Phase { return Phase{PhaseYield, d} }

// IoPhase writes to a scratch file and sleeps briefly, repeatedly, for d.
func IoPhase(d time.Duration) Phase { return Phase{PhaseIo, d} }

// String renders the phase as its script constructor, e.g. phase.spin("100ms").
func (p Phase) String() string {
	ctor := string(p.Kind)
	if info, ok := phaseKindInfo(p.Kind); ok {
		ctor = info.Ctor
	}
	return fmt.Sprintf("phase.%s(%q)", ctor, p.Duration)
}

type wirePhase struct {
	Kind     PhaseKind `json:"kind"`
	Duration string    `json:"duration"`
}

// MarshalJSON encodes the kind and the duration as a string like "100ms".
func (p Phase) MarshalJSON() ([]byte, error) {
	return json.Marshal(wirePhase{p.Kind, p.Duration.String()})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (p *Phase) UnmarshalJSON(data []byte) error {
	var wp wirePhase
	if err := json.Unmarshal(data, &wp); err != nil {
		return err
	}
	ph, err := NewPhase(wp.Kind, wp.Duration)
	if err != nil {
		return fmt.Errorf("phase %s: %w", wp.Kind, err)
	}
	*p = ph
	return nil
}

// NewPhase builds a phase from a kind and a duration given as a
// time.Duration or a string like "50ms". It does not check the duration's
// range: Sequence does, with the other parameters.
func NewPhase(kind PhaseKind, dur any) (Phase, error) {
	if _, ok := phaseKindInfo(kind); !ok {
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
	return Phase{kind, d.(time.Duration)}, nil
}
