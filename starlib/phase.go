package starlib

import (
	"fmt"
	"time"

	"github.com/ktstar/ktstar/workload"
	timelib "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// Phase is the Starlark module `phase`: one constructor per Sequence
// phase kind (workload.PhaseKinds), generated from that list.
//
//	def spin(duration) -> phase         spin bursts until the duration elapses
//	def sleep(duration) -> phase        one sleep of the duration
//	def sched_yield(duration) -> phase  sched_yield repeatedly (`yield` is reserved)
//	def io(duration) -> phase           scratch-file writes and short sleeps
//	def alu_hot(duration, width = "Widest") -> phase
//	                                    AluHot's multiply chains; each chain of 1024
//	                                    steps is an iteration-cost sample
//
// duration is a time.duration or a string like "100ms". Phases are the
// elements of work.sequence(phases = [...]), which checks that there is at
// least one and that every duration is positive. A phase value is
// immutable and hashable, prints as its constructor call, and has the
// attributes kind (the wire name: "spin", "sleep", "yield", "io",
// "alu_hot"), duration and width (None but for alu_hot).
var Phase = newPhaseModule()

func newPhaseModule() *starlarkstruct.Module {
	members := starlark.StringDict{}
	for _, info := range workload.PhaseKinds() {
		name := "phase." + info.Ctor
		members[info.Ctor] = starlark.NewBuiltin(name, guard(func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var d starlark.Value
			var width string
			pairs := []any{"duration", &d}
			if info.Width != nil {
				pairs = append(pairs, info.Width.Name+"?", &width)
			}
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
				return nil, err
			}
			goDur, err := durationArg(d)
			if err != nil {
				return nil, fmt.Errorf("%s: duration: %w", b.Name(), err)
			}
			p, err := workload.NewPhase(info.Kind, goDur, width)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return PhaseValue{P: p}, nil
		}))
	}
	return &starlarkstruct.Module{Name: "phase", Members: members}
}

// durationArg accepts a time.duration or a string, which the workload
// package parses so that its error text is the one users see everywhere.
func durationArg(v starlark.Value) (any, error) {
	switch d := v.(type) {
	case timelib.Duration:
		return time.Duration(d), nil
	case starlark.String:
		return string(d), nil
	}
	return nil, fmt.Errorf("want duration or string, got %s %s", v.Type(), v)
}

// PhaseValue is the Starlark value of one Sequence phase.
type PhaseValue struct {
	immutable
	P workload.Phase
}

var (
	_ starlark.HasAttrs   = PhaseValue{}
	_ starlark.Comparable = PhaseValue{}
)

// String renders the constructor call, e.g. `phase.spin("100ms")`.
func (p PhaseValue) String() string { return p.P.String() }

// Type returns "phase".
func (p PhaseValue) Type() string { return "phase" }

// Hash hashes the constructor call, which determines the value.
func (p PhaseValue) Hash() (uint32, error) { return starlark.String(p.String()).Hash() }

// CompareSameType compares phases for equality.
func (p PhaseValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(p, op, y)
}

var phaseAttrs = attrs[PhaseValue]{
	"kind":     func(p PhaseValue) starlark.Value { return starlark.String(p.P.Kind) },
	"duration": func(p PhaseValue) starlark.Value { return timelib.Duration(p.P.Duration) },
	"width":    func(p PhaseValue) starlark.Value { return noneIfEmpty(p.P.Width) },
}

// Attr returns kind, duration or width (None when not set).
func (p PhaseValue) Attr(name string) (starlark.Value, error) { return phaseAttrs.get(p, name) }

// AttrNames lists the attributes.
func (p PhaseValue) AttrNames() []string { return phaseAttrs.names() }
