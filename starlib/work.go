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

// Work is the Starlark module `work`: one constructor per entry of the
// work-type catalog (workload.Types), generated from it.
//
//	def <ctor>(**params) -> work
//	    e.g. work.spin_wait(), work.futex_ping_pong(spin_iters = 1024).
//	    Keyword arguments only; each is checked by name, type and range,
//	    and omitted ones take the catalog default. `ktstar doc NAME` lists
//	    the parameters of each type.
//	def names() -> list of str
//	    the PascalCase names of every work type, in catalog order.
//	def from_name(name, **params) -> work
//	    the work type called name, with optional parameters; name is the
//	    type's or the constructor's, in any case ("SpinWait", "spin_wait").
//	def custom(name, fn = None, arg = "") -> work
//	    the one constructor written by hand: fn may be a Starlark function
//	    defined at the top level of a load()ed module file, which each
//	    worker process loads and calls as fn(ctx) (custom.go), or the
//	    name of a Go function registered with workload.Register.
//
// A work value is immutable and hashable, prints as its constructor call
// with every parameter, and has the attributes
//
//	name        the PascalCase type name
//	group_size  workers per group (2 for pairs), or None when ungrouped
//	params      a frozen dict of every parameter's value
var Work = newWorkModule()

func newWorkModule() *starlarkstruct.Module {
	members := starlark.StringDict{
		"names":     starlark.NewBuiltin("names", guard(namesBuiltin(workload.Names))),
		"from_name": starlark.NewBuiltin("from_name", guard(workFromName)),
	}
	for _, t := range workload.Types() {
		members[t.Ctor] = starlark.NewBuiltin(t.Ctor, guard(func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := noPositional(t.Ctor, args); err != nil {
				return nil, err
			}
			return makeWork(t, kwargs)
		}))
	}
	members["custom"] = starlark.NewBuiltin("custom", guard(workCustom))
	return &starlarkstruct.Module{Name: "work", Members: members}
}

func workFromName(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &name); err != nil {
		return nil, err
	}
	t, ok := workload.Find(name)
	if !ok {
		_, err := workload.NewWork(name, nil) // the catalog's own error, with a suggestion
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return makeWork(t, kwargs)
}

// makeWork converts keyword arguments to plain Go values and lets the
// catalog look the names up, convert and validate them, so that every
// error is workload.NewWork's own.
func makeWork(t *workload.Type, kwargs []starlark.Tuple) (starlark.Value, error) {
	params := make(map[string]any, len(kwargs))
	for _, kv := range kwargs {
		params[string(kv[0].(starlark.String))] = paramArg(kv[1])
	}
	w, err := workload.NewWork(t.Name, params)
	if err != nil {
		return nil, err
	}
	return WorkValue{W: w}, nil
}

// paramArg converts a Starlark value, once, to the plain Go value the
// catalog takes for a parameter of any kind: int64 (a *big.Int when it
// does not fit, which the catalog refuses as out of range), string, bool,
// time.Duration, workload.Phase, or a []any of them for a list or tuple.
// Any other value is passed as it is, and the catalog's error names its
// Starlark type.
func paramArg(v starlark.Value) any {
	switch x := v.(type) {
	case starlark.Int:
		if n, ok := x.Int64(); ok {
			return n
		}
		return x.BigInt()
	case starlark.String:
		return string(x)
	case starlark.Bool:
		return bool(x)
	case timelib.Duration:
		return time.Duration(x)
	case PhaseValue:
		return x.P
	case starlark.Indexable:
		out := make([]any, x.Len())
		for i := range out {
			out[i] = paramArg(x.Index(i))
		}
		return out
	}
	return v
}

// WorkValue is the Starlark value of a resolved work type; immutable.
type WorkValue struct {
	immutable
	W workload.Work
}

var (
	_ starlark.HasAttrs   = WorkValue{}
	_ starlark.Comparable = WorkValue{}
)

// String renders the constructor call, e.g. `spin_wait()`.
func (w WorkValue) String() string { return w.W.String() }

// Type returns "work".
func (w WorkValue) Type() string { return "work" }

// Hash hashes the constructor call, which determines the value.
func (w WorkValue) Hash() (uint32, error) { return starlark.String(w.W.String()).Hash() }

// CompareSameType compares work values for equality.
func (w WorkValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(w, op, y)
}

var workAttrs = attrs[WorkValue]{
	"name": func(w WorkValue) starlark.Value { return starlark.String(w.W.Name()) },
	"group_size": func(w WorkValue) starlark.Value {
		if g := w.W.GroupSize(); g > 0 {
			return starlark.MakeInt(g)
		}
		return starlark.None
	},
	"params": func(w WorkValue) starlark.Value {
		t := w.W.Type()
		d := starlark.NewDict(len(t.Params))
		for _, p := range t.Params {
			v, _ := w.W.Arg(p.Name)
			d.SetKey(starlark.String(p.Name), ParamValue(v))
		}
		d.Freeze()
		return d
	},
}

// Attr returns name, group_size or params.
func (w WorkValue) Attr(name string) (starlark.Value, error) { return workAttrs.get(w, name) }

// AttrNames lists the attributes.
func (w WorkValue) AttrNames() []string { return workAttrs.names() }

// ParamValue converts a work parameter's Go value (from workload.Work.Arg)
// to Starlark: int, time.duration, bool, string, or a frozen list of ints
// or of phases.
func ParamValue(v any) starlark.Value {
	switch x := v.(type) {
	case []int64:
		return frozenList(x, func(n int64) starlark.Value { return starlark.MakeInt64(n) })
	case []workload.Phase:
		return frozenList(x, func(p workload.Phase) starlark.Value { return PhaseValue{P: p} })
	case int64:
		return starlark.MakeInt64(x)
	case time.Duration:
		return timelib.Duration(x)
	case bool:
		return starlark.Bool(x)
	case string:
		return starlark.String(x)
	}
	return starlark.None
}

func frozenList[T any](xs []T, conv func(T) starlark.Value) *starlark.List {
	out := make([]starlark.Value, len(xs))
	for i, x := range xs {
		out[i] = conv(x)
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l
}
