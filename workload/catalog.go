package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
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

// String returns the name scripts and docs use for the kind.
func (k ParamKind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindDuration:
		return "duration"
	case KindBool:
		return "bool"
	case KindEnum:
		return "enum"
	case KindString:
		return "string"
	case KindInts:
		return "list of int"
	case KindPhases:
		return "list of phase"
	}
	return fmt.Sprintf("ParamKind(%d)", int(k))
}

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

// Range describes the allowed values in words, for errors and docs.
func (p *Param) Range() string {
	switch p.Kind {
	case KindInt:
		return p.intRange()
	case KindInts:
		return "each element " + p.intRange()
	case KindDuration:
		if p.MinDur == 0 {
			return "0s or more"
		}
		return fmt.Sprintf("%v or more", p.MinDur)
	case KindBool:
		return "True or False"
	case KindEnum:
		return "one of " + strings.Join(quoteAll(p.Choices), ", ")
	case KindString:
		return "any string"
	case KindPhases:
		return "phases, each with a duration of 1ns or more"
	}
	return "?"
}

func (p *Param) intRange() string {
	if p.Max == 0 {
		return fmt.Sprintf("%d or more", p.Min)
	}
	return fmt.Sprintf("%d..%d", p.Min, p.Max)
}

func (p *Param) inRange(n int64) bool { return n >= p.Min && (p.Max == 0 || n <= p.Max) }

// check validates v, already of the kind's Go type, against the range.
func (p *Param) check(v any) bool {
	switch p.Kind {
	case KindInt:
		return p.inRange(v.(int64))
	case KindInts:
		for _, n := range v.([]int64) {
			if !p.inRange(n) {
				return false
			}
		}
	case KindDuration:
		return v.(time.Duration) >= p.MinDur
	case KindEnum:
		return slices.Contains(p.Choices, v.(string))
	case KindPhases:
		for _, ph := range v.([]Phase) {
			if ph.Duration <= 0 {
				return false
			}
		}
	}
	return true
}

// Type is one entry of the work-type catalog: the single declaration from
// which constructors, name lookups, validation, `ktstar list` and
// `ktstar doc` are generated.
type Type struct {
	Name   string // PascalCase, as ktstr spells it
	Ctor   string // snake_case constructor name
	Doc    string // one line
	Params []Param
	// GroupSize returns how many consecutive workers form one group
	// (pairs, fan-outs, chains); 0 means ungrouped. Nil means ungrouped.
	GroupSize func(w Work) int
	// Validate checks cross-parameter rules beyond each Param's range.
	Validate func(w Work) error
	// Region is the shared-memory bytes each group needs; 0 for none.
	Region int
	// Messenger is true when position 0 of each group is the fan-out messenger.
	Messenger bool
	// Pipes returns how many pipes each group needs, wired as a ring: the
	// worker at position p reads pipe (p-1) mod n and writes pipe p mod n.
	// Pairs (n = 2) thus exchange bytes both ways; a chain of depth n passes
	// a byte around. Nil means no pipes.
	Pipes func(w Work) int
	// GroupFiles creates, in the parent, files that every worker of one
	// group shares (an eventfd and an epoll instance, say): descriptors
	// created after a fork are not shared, and workers are separate
	// processes, so they are made once per group and inherited. A worker
	// finds them with (*Worker).GroupFD in the order returned. The parent
	// closes its copies once the group's last worker has started. Nil
	// means none.
	GroupFiles func(w Work) ([]*os.File, error)
	// Samples is true when the body records wake-latency samples, so the
	// worker reserves the reservoir up front instead of in the loop.
	Samples bool
	// CostSamples is true when the body records iteration-cost samples
	// (the duration of one compute iteration), so the worker reserves
	// that reservoir up front too.
	CostSamples bool
	// Scratch returns the files a worker of this type may create, given
	// the worker's token (unique per worker and spawn). The worker creates
	// them under these names; the parent removes them after reaping the
	// worker, so files of a killed worker go too. Nil means none.
	Scratch func(w Work, token string) []string
	// Cgroups returns how many cgroups of its own one handle of this type
	// moves its workers between (CgroupChurn's siblings). Spawn creates
	// them under Config.CgroupParent before the first worker starts,
	// passes their directories to every worker (workerSpec.CgroupDirs)
	// and removes them once the workers are reaped. Nil means none.
	Cgroups func(w Work) int
	// NamedBy, when non-empty, names the KindString parameter that carries
	// the user's name for the work (Custom): listings show the type as a
	// form, such as Custom(name), rather than as a fixed name.
	NamedBy string
	// New prepares one worker's body. It runs after the prologue, before
	// the start gate opens, and may return an error that fails the spawn.
	New func(w *Worker) (Body, error)
}

// Body is one worker's loop body for one work type.
type Body interface {
	// Step runs one outer iteration. It returns false to leave the loop.
	Step() bool
}

// Finisher is implemented by bodies that must act after the loop and
// before the report is encoded: restore nice or policy, scope a telemetry
// field to their own memory, or add the fields a user function returned.
type Finisher interface {
	Finish(r *Report)
}

// catalog lists every work type. Each family file contributes its own
// slice; this is the only place they are joined. It is assigned once in
// init because the bodies it holds look work types up by name.
var catalog []Type

func init() {
	catalog = slices.Concat(basicTypes, cpuTypes, ioTypes, sequenceTypes, churnTypes, cgroupTypes, memTypes, customTypes, wakeTypes, lockTypes, pressureTypes, schbenchTypes, taobenchTypes)
}

// Types returns every work type in catalog order.
func Types() []*Type {
	out := make([]*Type, len(catalog))
	for i := range catalog {
		out[i] = &catalog[i]
	}
	return out
}

// Names returns the PascalCase names of every work type, in catalog order.
func Names() []string {
	out := make([]string, len(catalog))
	for i := range catalog {
		out[i] = catalog[i].Name
	}
	return out
}

// Lookup finds a work type by its exact PascalCase name.
func Lookup(name string) (*Type, bool) {
	for i := range catalog {
		if catalog[i].Name == name {
			return &catalog[i], true
		}
	}
	return nil, false
}

// unknownTypeError explains an unknown name and suggests a close one.
func unknownTypeError(name string) error {
	for i := range catalog {
		if strings.EqualFold(catalog[i].Name, name) || catalog[i].Ctor == name {
			return fmt.Errorf("unknown work type %q (did you mean %q?)", name, catalog[i].Name)
		}
	}
	return fmt.Errorf("unknown work type %q; known types: %s", name, strings.Join(Names(), ", "))
}

// Work is a work type with every parameter resolved. It is immutable; the
// zero value is SpinWait.
type Work struct {
	t    *Type
	args []any // aligned with t.Params
}

// NewWork builds a work value from a type name and parameters given by name.
// Omitted parameters take their defaults. Values may be given as any Go
// integer kind for KindInt, time.Duration or a duration string for
// KindDuration. Errors name the type, the parameter, the value and the range.
func NewWork(name string, params map[string]any) (Work, error) {
	t, ok := Lookup(name)
	if !ok {
		return Work{}, unknownTypeError(name)
	}
	w := Work{t: t, args: make([]any, len(t.Params))}
	for i := range t.Params {
		w.args[i] = t.Params[i].Default
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := t.paramIndex(k)
		if i < 0 {
			return Work{}, fmt.Errorf("%s: unknown parameter %q (parameters: %s)", t.Ctor, k, t.paramNames())
		}
		v, err := coerce(&t.Params[i], params[k])
		if err != nil {
			return Work{}, fmt.Errorf("%s: %w", t.Ctor, err)
		}
		w.args[i] = v
	}
	if err := w.check(); err != nil {
		return Work{}, err
	}
	return w, nil
}

// MustWork is NewWork for parameters known to be valid; it panics otherwise.
func MustWork(name string, params map[string]any) Work {
	w, err := NewWork(name, params)
	if err != nil {
		panic(err)
	}
	return w
}

// check runs range and cross-parameter validation.
func (w Work) check() error {
	t := w.Type()
	for i := range t.Params {
		p := &t.Params[i]
		if !p.check(w.args[i]) {
			return fmt.Errorf("%s: %s = %s is out of range (allowed: %s)", t.Ctor, p.Name, formatValue(w.args[i]), p.Range())
		}
	}
	if t.Validate != nil {
		if err := t.Validate(w); err != nil {
			return fmt.Errorf("%s: %w", t.Ctor, err)
		}
	}
	return nil
}

func (t *Type) paramIndex(name string) int {
	for i := range t.Params {
		if t.Params[i].Name == name || slices.Contains(t.Params[i].Aliases, name) {
			return i
		}
	}
	return -1
}

func (t *Type) paramNames() string {
	if len(t.Params) == 0 {
		return "none"
	}
	names := make([]string, len(t.Params))
	for i := range t.Params {
		names[i] = t.Params[i].Name
	}
	return strings.Join(names, ", ")
}

// coerce converts a caller's value to the parameter's Go type.
func coerce(p *Param, v any) (any, error) {
	bad := func() error {
		return fmt.Errorf("%s: want %s, got %T %s", p.Name, p.Kind, v, formatValue(v))
	}
	switch p.Kind {
	case KindInt:
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int32:
			return int64(n), nil
		case int64:
			return n, nil
		case uint32:
			return int64(n), nil
		case uint64:
			if n > 1<<62 {
				return nil, fmt.Errorf("%s = %d is out of range (allowed: %s)", p.Name, n, p.Range())
			}
			return int64(n), nil
		case json.Number:
			i, err := n.Int64()
			if err != nil {
				return nil, bad()
			}
			return i, nil
		}
	case KindDuration:
		switch d := v.(type) {
		case time.Duration:
			return d, nil
		case string:
			pd, err := time.ParseDuration(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a duration (e.g. \"50ms\")", p.Name, d)
			}
			return pd, nil
		}
	case KindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case KindEnum, KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case KindInts:
		return coerceInts(p, v)
	case KindPhases:
		ps, err := coercePhases(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		return ps, nil
	}
	return nil, bad()
}

// coerceInts accepts a slice of any integer kind KindInt accepts, including
// the []any that JSON decoding produces; it always returns a fresh slice.
func coerceInts(p *Param, v any) (any, error) {
	var items []any
	switch xs := v.(type) {
	case []int64:
		return slices.Clone(xs), nil
	case []int:
		out := make([]int64, len(xs))
		for i, x := range xs {
			out[i] = int64(x)
		}
		return out, nil
	case []any:
		items = xs
	default:
		return nil, fmt.Errorf("%s: want %s, got %T %s", p.Name, p.Kind, v, formatValue(v))
	}
	elem := Param{Name: p.Name, Kind: KindInt, Min: p.Min, Max: p.Max}
	out := make([]int64, len(items))
	for i, x := range items {
		n, err := coerce(&elem, x)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: want int, got %T %s", p.Name, i, x, formatValue(x))
		}
		out[i] = n.(int64)
	}
	return out, nil
}

// formatValue renders a parameter value as Starlark source, so that a
// printed work value can be pasted back into a script: durations as
// strings ("50ms"), lists in brackets, phases as their constructor calls.
func formatValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return fmt.Sprintf("%q", x.String())
	case []int64:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = fmt.Sprint(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []Phase:
		parts := make([]string, len(x))
		for i, ph := range x {
			parts[i] = ph.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// Type returns the work type's catalog entry.
func (w Work) Type() *Type {
	if w.t == nil {
		t, _ := Lookup("SpinWait")
		return t
	}
	return w.t
}

// Name returns the PascalCase name of the work type.
func (w Work) Name() string { return w.Type().Name }

// GroupSize returns the number of workers per group, or 0 when ungrouped.
func (w Work) GroupSize() int {
	if t := w.Type(); t.GroupSize != nil {
		return t.GroupSize(w)
	}
	return 0
}

// Arg returns the resolved value of the named parameter.
func (w Work) Arg(name string) (any, bool) {
	t := w.Type()
	i := t.paramIndex(name)
	if i < 0 {
		return nil, false
	}
	if w.args == nil {
		return t.Params[i].Default, true
	}
	return w.args[i], true
}

// Int returns an int parameter; it panics if the name is not an int parameter
// of this type, which is a bug in the work type's body.
func (w Work) Int(name string) int64 { return mustArg[int64](w, name) }

// Duration returns a duration parameter.
func (w Work) Duration(name string) time.Duration { return mustArg[time.Duration](w, name) }

// Bool returns a bool parameter.
func (w Work) Bool(name string) bool { return mustArg[bool](w, name) }

// Enum returns an enum parameter.
func (w Work) Enum(name string) string { return mustArg[string](w, name) }

// Text returns a string parameter.
func (w Work) Text(name string) string { return mustArg[string](w, name) }

// Ints returns a list-of-int parameter. The slice is shared: do not modify it.
func (w Work) Ints(name string) []int64 { return mustArg[[]int64](w, name) }

// Phases returns a list-of-phase parameter. The slice is shared: do not modify it.
func (w Work) Phases(name string) []Phase { return mustArg[[]Phase](w, name) }

func mustArg[T any](w Work, name string) T {
	v, ok := w.Arg(name)
	if !ok {
		panic(fmt.Sprintf("work type %s has no parameter %q", w.Name(), name))
	}
	return v.(T)
}

// String renders the work value as the script call that makes it, with
// every parameter, e.g. `work.bursty(burst_duration = "50ms", sleep_duration = "100ms")`:
// valid Starlark that can be pasted back into a script.
func (w Work) String() string {
	t := w.Type()
	var b strings.Builder
	b.WriteString("work.")
	b.WriteString(t.Ctor)
	b.WriteByte('(')
	for i := range t.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		v, _ := w.Arg(t.Params[i].Name)
		fmt.Fprintf(&b, "%s = %s", t.Params[i].Name, formatValue(v))
	}
	b.WriteByte(')')
	return b.String()
}

// wireWork is the JSON form of a Work: durations as strings like "50ms".
type wireWork struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params,omitempty"`
}

// MarshalJSON encodes the type name and every parameter.
func (w Work) MarshalJSON() ([]byte, error) {
	t := w.Type()
	ww := wireWork{Type: t.Name}
	if len(t.Params) > 0 {
		ww.Params = make(map[string]any, len(t.Params))
		for i := range t.Params {
			v, _ := w.Arg(t.Params[i].Name)
			if d, ok := v.(time.Duration); ok {
				v = d.String()
			}
			ww.Params[t.Params[i].Name] = v
		}
	}
	return json.Marshal(ww)
}

// UnmarshalJSON decodes and validates the form MarshalJSON writes.
func (w *Work) UnmarshalJSON(data []byte) error {
	var ww wireWork
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&ww); err != nil {
		return err
	}
	nw, err := NewWork(ww.Type, ww.Params)
	if err != nil {
		return err
	}
	*w = nw
	return nil
}
