package workload

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ktstar/ktstar/internal/clip"
)

// ParamKind is the value kind of a work-type parameter.
type ParamKind int

// Parameter kinds. Each maps to one Go type inside a [Work]:
// KindInt → int64, KindDuration → time.Duration, KindBool → bool,
// KindEnum → string (one of Param.Choices), KindString → string,
// KindInts → []int64 (each element within Min..Max), KindPhases → []Phase.
const (
	KindInt ParamKind = iota
	KindDuration
	KindBool
	KindEnum
	KindString
	KindInts
	KindPhases
)

// Param describes one parameter of a work type: its name, kind, default and
// allowed range. Validation, constructors and docs are all derived from it.
type Param struct {
	Name    string
	Kind    ParamKind
	Default any // int64, time.Duration, bool, string, []int64 or []Phase, matching Kind
	// Min and Max bound KindInt values and each KindInts element
	// (inclusive). Max == 0 means no upper bound.
	Min, Max int64
	// MinDur bounds KindDuration values from below (inclusive).
	MinDur time.Duration
	// Choices lists the allowed KindEnum values.
	Choices []string
	// Aliases are alternative names accepted when decoding (ktstr's `_kib` spellings).
	Aliases []string
	Doc     string
}

// kindSpec is everything that differs between parameter kinds, in one
// place: a new kind is one entry of kinds, and nothing else switches on
// the kind.
type kindSpec struct {
	name string // as scripts, docs and errors name it
	// convert turns a caller's plain Go value (a script's, a JSON
	// document's or a Go program's) into the kind's Go type; ok is false
	// when v is of a type the kind does not take.
	convert func(p *Param, v any) (out any, ok bool, err error)
	// valid reports whether a value of the kind's Go type is in range.
	valid func(p *Param, v any) bool
	// allowed describes the range in words.
	allowed func(p *Param) string
	// format renders a value as Starlark source a script can paste back.
	format func(v any) string
	// wire is the value's JSON form; nil means the value itself.
	wire func(v any) any
	// sleep is the longest single sleep the value asks a worker for, which
	// bounds how fast it sees the stop; nil means none.
	sleep func(v any) time.Duration
}

// kinds holds the spec of every kind, indexed by ParamKind. It is assigned
// in init because converting phases refers back to it.
var kinds [KindPhases + 1]kindSpec

func init() {
	kinds = [...]kindSpec{
		KindInt: {
			name:    "int",
			convert: func(p *Param, v any) (any, bool, error) { return toInt64(p, v) },
			valid:   func(p *Param, v any) bool { return p.inRange(v.(int64)) },
			allowed: (*Param).intRange,
			format:  func(v any) string { return fmt.Sprint(v) },
		},
		KindDuration: {
			name:    "duration",
			convert: toDuration,
			valid:   func(p *Param, v any) bool { return v.(time.Duration) >= p.MinDur },
			allowed: func(p *Param) string { return fmt.Sprintf("%v or more", p.MinDur) },
			format:  func(v any) string { return fmt.Sprintf("%q", v.(time.Duration).String()) },
			wire:    func(v any) any { return v.(time.Duration).String() },
			sleep:   func(v any) time.Duration { return v.(time.Duration) },
		},
		KindBool: {
			name:    "bool",
			convert: plain[bool],
			valid:   func(*Param, any) bool { return true },
			allowed: func(*Param) string { return "True or False" },
			format:  func(v any) string { return formatBool(v.(bool)) },
		},
		KindEnum: {
			name:    "enum",
			convert: toChoice,
			valid:   func(p *Param, v any) bool { return slices.Contains(p.Choices, v.(string)) },
			allowed: func(p *Param) string { return "one of " + strings.Join(quoteAll(p.Choices), ", ") },
			format:  quote,
		},
		KindString: {
			name:    "string",
			convert: plain[string],
			valid:   func(*Param, any) bool { return true },
			allowed: func(*Param) string { return "any string" },
			format:  quote,
		},
		KindInts: {
			name:    "list of int",
			convert: toInts,
			valid: func(p *Param, v any) bool {
				return !slices.ContainsFunc(v.([]int64), func(n int64) bool { return !p.inRange(n) })
			},
			allowed: func(p *Param) string { return "each element " + p.intRange() },
			format: func(v any) string {
				return formatList(v.([]int64), func(n int64) string { return fmt.Sprint(n) })
			},
		},
		KindPhases: {
			name:    "list of phase",
			convert: func(p *Param, v any) (any, bool, error) { return toPhases(v) },
			valid: func(p *Param, v any) bool {
				return !slices.ContainsFunc(v.([]Phase), func(ph Phase) bool { return ph.Duration <= 0 })
			},
			allowed: func(*Param) string { return "phases, each with a duration of 1ns or more" },
			format:  func(v any) string { return formatList(v.([]Phase), Phase.String) },
			sleep: func(v any) time.Duration {
				var d time.Duration
				for _, ph := range v.([]Phase) {
					d = max(d, ph.Duration)
				}
				return d
			},
		},
	}
}

func (k ParamKind) spec() *kindSpec {
	if k < 0 || int(k) >= len(kinds) {
		panic(fmt.Sprintf("workload: ParamKind(%d) is not a kind", int(k)))
	}
	return &kinds[k]
}

// String returns the name scripts and docs use for the kind.
func (k ParamKind) String() string {
	if k < 0 || int(k) >= len(kinds) {
		return fmt.Sprintf("ParamKind(%d)", int(k))
	}
	return kinds[k].name
}

// Range describes the allowed values in words, for errors and docs.
func (p *Param) Range() string { return p.Kind.spec().allowed(p) }

// Format renders a value of the parameter's kind as Starlark source, the
// way a printed work value shows it: `"50ms"`, `[0, 1]`, `True`.
func (p *Param) Format(v any) string { return p.Kind.spec().format(v) }

func (p *Param) intRange() string {
	if p.Max == 0 {
		return fmt.Sprintf("%d or more", p.Min)
	}
	return fmt.Sprintf("%d..%d", p.Min, p.Max)
}

func (p *Param) inRange(n int64) bool { return n >= p.Min && (p.Max == 0 || n <= p.Max) }

// convert turns a caller's value into the parameter's Go type; the error
// names the parameter, what it wants and what it got.
func (p *Param) convert(v any) (any, error) {
	out, ok, err := p.Kind.spec().convert(p, v)
	if err != nil {
		return nil, fmt.Errorf("%s%w", p.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: want %s, got %s", p.Name, p.Kind, clip.String(describe(v)))
	}
	return out, nil
}

// plain accepts values that already have the kind's Go type T.
func plain[T any](_ *Param, v any) (any, bool, error) {
	x, ok := v.(T)
	return x, ok, nil
}

// toChoice accepts an enum value in any case ("widest" for "Widest") and
// hands on the catalog's spelling, so reports and printed work agree.
func toChoice(p *Param, v any) (any, bool, error) {
	s, ok := v.(string)
	if !ok {
		return nil, false, nil
	}
	if i := slices.IndexFunc(p.Choices, func(c string) bool { return strings.EqualFold(c, s) }); i >= 0 {
		return p.Choices[i], true, nil
	}
	return s, true, nil
}

// toInt64 accepts every Go integer type, json.Number and an integer too
// big for int64 (out of range).
func toInt64(p *Param, v any) (int64, bool, error) {
	tooBig := func() (int64, bool, error) {
		return 0, true, fmt.Errorf(" = %v is out of range (allowed: %s)", v, p.intRange())
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case json.Number:
		i, err := n.Int64()
		return i, err == nil, nil
	case *big.Int:
		return tooBig()
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int(), true, nil
	case rv.CanUint() && rv.Uint() > 1<<62:
		return tooBig()
	case rv.CanUint():
		return int64(rv.Uint()), true, nil
	}
	return 0, false, nil
}

// toDuration accepts a time.Duration or a string like "50ms".
func toDuration(_ *Param, v any) (any, bool, error) {
	switch d := v.(type) {
	case time.Duration:
		return d, true, nil
	case string:
		pd, err := time.ParseDuration(d)
		if err != nil {
			return nil, true, fmt.Errorf(": %q is not a duration (e.g. \"50ms\")", d)
		}
		return pd, true, nil
	}
	return nil, false, nil
}

// toInts accepts a slice of any integer type, or a []any of integers (a
// script's list, a JSON array); it always returns a fresh slice.
func toInts(p *Param, v any) (any, bool, error) {
	if xs, ok := v.([]int64); ok {
		return slices.Clone(xs), true, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return nil, false, nil
	}
	out := make([]int64, rv.Len())
	for i := range out {
		x := rv.Index(i).Interface()
		n, ok, err := toInt64(p, x)
		if err != nil {
			return nil, true, fmt.Errorf("[%d]%w", i, err)
		}
		if !ok {
			return nil, true, fmt.Errorf("[%d]: want int, got %s", i, describe(x))
		}
		out[i] = n
	}
	return out, true, nil
}

// toPhases accepts []Phase, or a []any of phases or of the
// {"kind", "duration"[, "width"]} objects JSON decoding produces; it always returns
// a fresh slice.
func toPhases(v any) (any, bool, error) {
	switch xs := v.(type) {
	case []Phase:
		return slices.Clone(xs), true, nil
	case []any:
		out := make([]Phase, len(xs))
		for i, x := range xs {
			switch ph := x.(type) {
			case Phase:
				out[i] = ph
			case map[string]any:
				kind, _ := ph["kind"].(string)
				width, _ := ph["width"].(string)
				p, err := NewPhase(PhaseKind(kind), ph["duration"], width)
				if err != nil {
					return nil, true, fmt.Errorf("[%d]: %w", i, err)
				}
				out[i] = p
			default:
				return nil, true, fmt.Errorf("[%d]: want phase, got %s", i, describe(x))
			}
		}
		return out, true, nil
	}
	return nil, false, nil
}

// describe names a caller's value for errors as a script author sees it:
// its script type and its value, e.g. `string "fast"` or `bool True`.
// Values of a host language (Starlark) say their own type.
func describe(v any) string {
	if sv, ok := v.(interface {
		Type() string
		String() string
	}); ok {
		return sv.Type() + " " + sv.String()
	}
	switch x := v.(type) {
	case Phase:
		return "phase " + x.String()
	case time.Duration:
		return "duration " + quote(x.String())
	case bool:
		return "bool " + formatBool(x)
	case string:
		return "string " + quote(x)
	case json.Number, *big.Int:
		return fmt.Sprint("int ", x)
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt(), rv.CanUint():
		return fmt.Sprint("int ", v)
	case rv.Kind() == reflect.Slice:
		return fmt.Sprint("list ", v)
	}
	return fmt.Sprintf("%T %v", v, v)
}

func formatBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func quote(v any) string { return fmt.Sprintf("%q", v) }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func formatList[T any](xs []T, f func(T) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
