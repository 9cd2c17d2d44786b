package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ktstar/ktstar/internal/clip"
)

// Type is one entry of the work-type catalog: the single declaration from
// which constructors, name lookups, validation, `ktstar list` and
// `ktstar doc` are generated.
type Type struct {
	Name   string // PascalCase, as ktstr spells it
	Ctor   string // snake_case constructor name
	Doc    string // one line
	Params []Param
	// Example overrides defaults so that the type is valid as data on any
	// machine and fast (short sleeps, small regions, few iterations per
	// step): the catalog-driven tests run every type with it, so a new
	// type is tested without editing a test. Nil means the defaults are
	// such. (Custom's example names a function the tests register.)
	Example map[string]any
	// GroupSize returns how many consecutive workers form one group
	// (pairs, fan-outs, chains); 0 means ungrouped. Nil means ungrouped.
	GroupSize func(w Work) int
	// Validate checks cross-parameter rules beyond each Param's range. It
	// must not read the machine: a Work is data, and a result file decodes
	// on any host.
	Validate func(w Work) error
	// Preflight checks what the work needs of the machine it is about to
	// run on (an online NUMA node, a free block device, a registered
	// function). Only Work.Preflight runs it: Spawn, and `ktstar check`.
	// Nil means nothing to check.
	Preflight func(w Work) error
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
	// Sample is the kind of the wake samples the body records, "" when it
	// records none. A type that samples has its reservoir reserved up
	// front instead of in the loop.
	Sample SampleKind
	// CostSamples is true when the body records iteration-cost samples
	// (the duration of one compute iteration), so the worker reserves
	// that reservoir up front too.
	CostSamples bool
	// TimerSamples is true when the body records timer-latency samples
	// (how late an absolute-deadline sleep woke), so the worker reserves
	// that reservoir up front too.
	TimerSamples bool
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
	// Placement, when non-nil, marks a type that acts on the other tasks
	// of its cgroup or on its sibling groups: it runs only inside a group
	// of the run (Config.Cgroup below Config.CgroupParent), since anywhere
	// else those would be unrelated processes.
	Placement *Placement
	// NamedBy, when non-empty, names the KindString parameter that carries
	// the user's name for the work (Custom): listings show the type as a
	// form, such as Custom(name), rather than as a fixed name.
	NamedBy string
	// StandIn fills the figures a type reports beyond the generic ones
	// (Report.Schbench, Report.Taobench) in the stand-in reports of a
	// check-only run (`ktstar check`), with ones as the generic
	// measurements of a stand-in are, so that a script reading them goes
	// through. Nil means none.
	StandIn func(w Work, r *Report)
	// NotAsThread, when non-empty, says why the type cannot run as a
	// thread of a process shared with other workers (clone_mode =
	// "thread", a pcomm container): Spawn refuses such a group with this
	// reason before anything starts. Empty means it can.
	NotAsThread string
	// New prepares one worker's body. It runs after the prologue, before
	// the start gate opens, and may return an error that fails the spawn.
	New func(w *Worker) (Body, error)
}

// Placement is what a type that acts on its own cgroup needs of where
// its workers are.
type Placement struct {
	// Acts says what the type does there, for the refusals:
	// "CrossAffinityChurn rewrites the CPU mask of every other process in
	// its cgroup".
	Acts string
	// Dirs runs in Spawn before any worker starts, given the directory of
	// the workers' group (already checked to be one of the run's), and
	// returns the directories every worker gets in workerSpec.CgroupDirs.
	// An error fails the spawn.
	Dirs func(cfg Config, own string) ([]string, error)
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
	catalog = slices.Concat(basicTypes, cpuTypes, ioTypes, sequenceTypes, churnTypes, cgroupTypes, memTypes, customTypes, wakeTypes, chainTypes, lockTypes, pressureTypes, timerTypes, crossAffinityTypes, attachStormTypes, netTypes, schbenchTypes, taobenchTypes)
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

// Find finds a work type by any spelling a person may type: its name or
// its constructor's, in any case, with or without underscores
// ("FutexPingPong", "futex_ping_pong", "pipeio").
func Find(name string) (*Type, bool) {
	key := foldName(name)
	for i := range catalog {
		if foldName(catalog[i].Name) == key || foldName(catalog[i].Ctor) == key {
			return &catalog[i], true
		}
	}
	return nil, false
}

func foldName(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// unknownTypeError explains an unknown name and suggests a close one.
func unknownTypeError(name string) error {
	if t, ok := Find(name); ok {
		return fmt.Errorf("unknown work type %q (did you mean %q?)", name, t.Name)
	}
	// A name cut short ("futex_ping") suggests the one type it starts.
	var starts []string
	for i := range catalog {
		if key := foldName(name); key != "" && strings.HasPrefix(foldName(catalog[i].Name), key) {
			starts = append(starts, catalog[i].Name)
		}
	}
	if len(starts) == 1 {
		return fmt.Errorf("unknown work type %q (did you mean %q?)", name, starts[0])
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
		v, err := t.Params[i].convert(params[k])
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

// ExampleWork is the type with its Example parameters; it panics if they
// are not valid, which TestCatalogIsConsistent reports for every type.
func (t *Type) ExampleWork() Work { return MustWork(t.Name, t.Example) }

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
		if !p.Kind.spec().valid(p, w.args[i]) {
			return fmt.Errorf("%s: %s = %s is out of range (allowed: %s)", t.Ctor, p.Name, clip.String(p.Format(w.args[i])), p.Range())
		}
	}
	if t.Validate != nil {
		if err := t.Validate(w); err != nil {
			return fmt.Errorf("%s: %w", t.Ctor, err)
		}
	}
	return nil
}

// Preflight checks that this machine can run w: what its type needs of
// the machine (Type.Preflight) rather than of its parameters, which
// NewWork checked. Spawn runs it before starting any worker; `ktstar
// check` runs it to report such problems before a run. The error names
// the constructor.
func (w Work) Preflight() error {
	t := w.Type()
	if t.Preflight == nil {
		return nil
	}
	if err := t.Preflight(w); err != nil {
		return fmt.Errorf("%s: %w", t.Ctor, err)
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

// StandIn fills a stand-in report's type-specific figures (Type.StandIn).
func (w Work) StandIn(r *Report) {
	if t := w.Type(); t.StandIn != nil {
		t.StandIn(w, r)
	}
}

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
		fmt.Fprintf(&b, "%s = %s", t.Params[i].Name, t.Params[i].Format(v))
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
			if wire := t.Params[i].Kind.spec().wire; wire != nil {
				v = wire(v)
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
