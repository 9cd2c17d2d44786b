package starlib

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Reports converts worker reports to a Starlark list of dicts. Keys are
// the JSON field names of workload.Report (derived from its struct tags,
// so the two never disagree); exit_info is a dict or None, migrations a
// list of dicts, every []uint64 (wake_latencies_ns) a read-only [Samples]
// value that shares the Go slice instead of copying it, and wake_stats a
// [Histogram].
func Reports(rs []workload.Report) *starlark.List {
	out := make([]starlark.Value, len(rs))
	for i := range rs {
		out[i] = toStarlark(reflect.ValueOf(&rs[i]).Elem())
	}
	return starlark.NewList(out)
}

var (
	uint64Slice = reflect.TypeFor[[]uint64]()
	histSummary = reflect.TypeFor[*hist.Summary]()
)

// toStarlark converts the plain data of a report: structs (by JSON tag),
// pointers, slices, maps and scalars.
func toStarlark(v reflect.Value) starlark.Value {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface: // Interface: the values of Report.Extra
		if v.IsNil() {
			return starlark.None
		}
		if v.Type() == histSummary { // wake_stats: thousands of buckets, converted on demand
			return NewHistogram(v.Interface().(*hist.Summary))
		}
		return toStarlark(v.Elem())
	case reflect.Struct:
		t := v.Type()
		d := starlark.NewDict(t.NumField())
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			d.SetKey(starlark.String(name), toStarlark(v.Field(i)))
		}
		return d
	case reflect.Slice:
		if v.Type() == uint64Slice {
			return NewSamples(v.Interface().([]uint64))
		}
		l := make([]starlark.Value, v.Len())
		for i := range l {
			l[i] = toStarlark(v.Index(i))
		}
		return starlark.NewList(l)
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		d := starlark.NewDict(len(keys))
		for _, k := range keys {
			d.SetKey(toStarlark(k), toStarlark(v.MapIndex(k)))
		}
		return d
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return starlark.MakeInt64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return starlark.MakeUint64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return starlark.Float(v.Float())
	case reflect.Bool:
		return starlark.Bool(v.Bool())
	case reflect.String:
		return starlark.String(v.String())
	}
	panic(fmt.Sprintf("report field of kind %s has no Starlark form", v.Kind()))
}

// Samples is a read-only Starlark sequence of uint64 samples backed by a
// Go slice (a worker's wake latencies, up to 100,000 of them): len(s),
// s[i], s[i:j:k] and iteration work, and nothing is copied into Starlark
// unless a script walks it. The stats module reads the slice directly.
type Samples struct{ s []uint64 }

var (
	_ starlark.Indexable  = (*Samples)(nil)
	_ starlark.Sliceable  = (*Samples)(nil)
	_ starlark.Iterable   = (*Samples)(nil)
	_ starlark.Comparable = (*Samples)(nil)
)

// NewSamples wraps s without copying it; s must not change afterwards.
func NewSamples(s []uint64) *Samples { return &Samples{s: s} }

// Values returns the backing slice; callers must not modify it.
func (s *Samples) Values() []uint64 { return s.s }

// String shows the length, not the (possibly 100,000) values.
func (s *Samples) String() string { return fmt.Sprintf("samples(len = %d)", len(s.s)) }

// Type returns "samples".
func (s *Samples) Type() string { return "samples" }

// Freeze does nothing: samples are read-only.
func (s *Samples) Freeze() {}

// Truth reports whether there is at least one sample.
func (s *Samples) Truth() starlark.Bool { return len(s.s) > 0 }

// Hash fails, as for a list.
func (s *Samples) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: samples") }

// Len returns the number of samples.
func (s *Samples) Len() int { return len(s.s) }

// Index returns sample i as an int.
func (s *Samples) Index(i int) starlark.Value { return starlark.MakeUint64(s.s[i]) }

// Slice returns s[start:end:step], sharing the slice when step is 1.
func (s *Samples) Slice(start, end, step int) starlark.Value {
	if step == 1 {
		return &Samples{s: s.s[start:end:end]}
	}
	var out []uint64
	for i := start; (step > 0 && i < end) || (step < 0 && i > end); i += step {
		out = append(out, s.s[i])
	}
	return &Samples{s: out}
}

// Iterate yields the samples as ints.
func (s *Samples) Iterate() starlark.Iterator { return &samplesIter{s: s.s} }

// CompareSameType compares samples element by element for == and !=.
func (s *Samples) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	eq := slices.Equal(s.s, y.(*Samples).s)
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", s.Type(), op, y.Type())
}

type samplesIter struct {
	s []uint64
	i int
}

func (it *samplesIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.s) {
		return false
	}
	*p = starlark.MakeUint64(it.s[it.i])
	it.i++
	return true
}

func (it *samplesIter) Done() {}
