package starlib

import (
	"fmt"

	"github.com/ktstar/ktstar/internal/cpulist"
	"github.com/ktstar/ktstar/topo"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// cpusModule is the Starlark module `cpus`: cpuset specs that describe a
// cgroup's CPUs relative to the machine, so one scenario fits machines of
// any size (runtime.md §7.2). The fractional kinds index the usable CPUs
// (topo.usable_cpus).
//
//	def llc(i) -> cpuset             every CPU of LLC i (LLC order)
//	def numa(n) -> cpuset            every CPU of the LLCs on NUMA node n
//	def range(start, end) -> cpuset  usable[floor(len·start) .. floor(len·end)), fractions in 0..1
//	def disjoint(i, n) -> cpuset     partition i of n equal partitions of the usable CPUs
//	def overlap(i, n, frac) -> cpuset  partition i of n, widened by frac of a partition each side
//	def exact(cpus) -> cpuset        exactly cpus (a list of ints or "0-3,8")
//
// Each spec is checked against this machine's topology when it is made, so
// a spec the machine cannot satisfy fails at the line that makes it. The
// CPUs a spec stands for: topo.cpuset(spec).
func (s *Session) cpusModule() *starlarkstruct.Module {
	mk := func(name string, parse func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error)) *starlark.Builtin {
		return starlark.NewBuiltin("cpus."+name, guard(func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			spec, err := parse(b, args, kwargs)
			if err != nil {
				return nil, err
			}
			tp, err := s.topology()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			if err := spec.Validate(tp); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return CpusetValue{S: spec}, nil
		}))
	}
	return &starlarkstruct.Module{
		Name: "cpus",
		Members: starlark.StringDict{
			"llc": mk("llc", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var i int
				err := starlark.UnpackArgs(b.Name(), args, kwargs, "i", &i)
				return topo.CpusLLC(i), err
			}),
			"numa": mk("numa", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var n int
				err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n)
				return topo.CpusNuma(n), err
			}),
			"range": mk("range", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var start, end starlark.Value
				if err := starlark.UnpackArgs(b.Name(), args, kwargs, "start", &start, "end", &end); err != nil {
					return topo.CpusetSpec{}, err
				}
				a, err := fraction(b.Name(), "start", start)
				if err != nil {
					return topo.CpusetSpec{}, err
				}
				e, err := fraction(b.Name(), "end", end)
				return topo.CpusRange(a, e), err
			}),
			"disjoint": mk("disjoint", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var i, n int
				err := starlark.UnpackArgs(b.Name(), args, kwargs, "i", &i, "n", &n)
				return topo.CpusDisjoint(i, n), err
			}),
			"overlap": mk("overlap", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var i, n int
				var frac starlark.Value
				if err := starlark.UnpackArgs(b.Name(), args, kwargs, "i", &i, "n", &n, "frac", &frac); err != nil {
					return topo.CpusetSpec{}, err
				}
				f, err := fraction(b.Name(), "frac", frac)
				return topo.CpusOverlap(i, n, f), err
			}),
			"exact": mk("exact", func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (topo.CpusetSpec, error) {
				var cpus cpuListParam
				err := starlark.UnpackArgs(b.Name(), args, kwargs, "cpus", &cpus)
				return topo.CpusExact(cpus...), err
			}),
		},
	}
}

// fraction accepts an int or a float; the range is checked by Validate.
func fraction(fn, param string, v starlark.Value) (float64, error) {
	f, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("%s: %s: want a fraction (a float in 0..1), got %s", fn, param, v.Type())
	}
	return f, nil
}

// CpusetValue is the Starlark value of a cpuset spec; immutable.
type CpusetValue struct {
	immutable
	S topo.CpusetSpec
}

// String renders the constructor call as a script writes it, e.g.
// `cpus.disjoint(0, 2)` or `cpus.exact("0-3")`, so a printed value pastes
// back into a script.
func (c CpusetValue) String() string {
	if c.S.Kind == topo.CpusetExact {
		return fmt.Sprintf("cpus.exact(%q)", cpulist.Format(c.S.CPUs))
	}
	return "cpus." + c.S.String()
}

// Type returns "cpuset".
func (c CpusetValue) Type() string { return "cpuset" }

// Hash hashes the rendered value.
func (c CpusetValue) Hash() (uint32, error) { return starlark.String(c.String()).Hash() }

// CompareSameType compares specs for equality.
func (c CpusetValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(c, op, y)
}

// cpusetSpec accepts a cpuset value, a list of CPUs or a CPU list string
// (the last two meaning cpus.exact).
func cpusetSpec(fn string, v starlark.Value) (topo.CpusetSpec, error) {
	if c, ok := v.(CpusetValue); ok {
		return c.S, nil
	}
	switch v.(type) {
	case starlark.String, *starlark.List, starlark.Tuple:
		list, err := cpuList(fn, v)
		return topo.CpusExact(list...), err
	}
	return topo.CpusetSpec{}, fmt.Errorf("%s: want a cpuset (cpus.disjoint(0, 2), …), a list of CPUs or a CPU list string, got %s", fn, v.Type())
}
