package starlib

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/ktstar/ktstar/workload"
	timelib "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// newWorkload implements the builtin
//
//	def workload(workers, work = work.spin_wait(), affinity = affinity.inherit(),
//	             policy = sched.normal(), nice = None, comm = "", warmup = "0s", label = "",
//	             uid = None, gid = None, numa_node = None, composed = [],
//	             mem_policy = mempolicy.default(), clone_mode = "fork", pcomm = "") -> workload
//
// (keyword arguments only). warmup (a duration or "500ms") leaves the first
// part of the run out of samples and gap tracking; work is still counted.
// uid and gid are set in every worker (setresgid, then setresuid) after
// its privileged set-up; numa_node restricts the workers to that node's
// CPUs, replacing affinity's mask. composed is a list of workloads spawned
// beside this one by the same spawn, as groups 1..N (group_idx in their
// reports; group 0 is this one); they share its cgroup and have no
// composed groups of their own. clone_mode = "thread" runs the workers as
// threads of one host process (every thread-mode group of a spawn shares
// it); pcomm = "java" hosts them as threads of a container process whose
// comm is "java", one per distinct pcomm of the spawn. A work type that
// cannot run as a thread (ktstar list says which) is refused with why.
// The config is validated at once, against the work type's grouping and
// the machine's online CPUs, so a bad request fails at the line that
// makes it.
func newWorkload(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := noPositional(b.Name(), args); err != nil {
		return nil, err
	}
	var (
		workers int
		work    = WorkValue{}
		aff     = AffinityValue{A: workload.Inherit()}
		policy  = PolicyValue{P: workload.Normal()}
		nice    starlark.Value
		comm    string
		ids     = [3]starlark.Value{starlark.None, starlark.None, starlark.None} // uid, gid, numa_node
		comp    = starlark.NewList(nil)
		mem     MemPolicyValue
		warmup  durationParam
		label   string
		clone   = "fork"
		pcomm   string
	)
	if err := starlark.UnpackArgs(b.Name(), nil, kwargs,
		"workers", &workers, "work?", &work, "affinity?", &aff,
		"policy?", &policy, "nice?", &nice, "comm?", &comm, "warmup?", &warmup, "label?", &label,
		"uid?", &ids[0], "gid?", &ids[1], "numa_node?", &ids[2], "composed?", &comp, "mem_policy?", &mem,
		"clone_mode?", &clone, "pcomm?", &pcomm); err != nil {
		return nil, err
	}
	mode, err := workload.ParseCloneMode(clone)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	cfg := workload.Config{Workers: workers, Work: work.W, Affinity: aff.A, Policy: policy.P, Comm: comm, MemPolicy: mem.P, CloneMode: mode, Pcomm: pcomm}
	for _, o := range []struct {
		name string
		v    starlark.Value
		dst  **int
	}{{"nice", nice, &cfg.Nice}, {"uid", ids[0], &cfg.UID}, {"gid", ids[1], &cfg.GID}, {"numa_node", ids[2], &cfg.NUMANode}} {
		if o.v == nil || o.v == starlark.None {
			continue
		}
		var n int
		if err := starlark.AsInt(o.v, &n); err != nil {
			return nil, fmt.Errorf("%s: for parameter %s: got %s, want int or None", b.Name(), o.name, o.v.Type())
		}
		*o.dst = &n
	}
	for i := range comp.Len() {
		e, ok := comp.Index(i).(WorkloadValue)
		if !ok {
			return nil, fmt.Errorf("%s: composed[%d]: got %s, want a workload", b.Name(), i, comp.Index(i).Type())
		}
		cfg.Composed = append(cfg.Composed, e.C)
	}
	cfg.Warmup = time.Duration(warmup)
	// A topology-aware affinity is resolved when the workload is spawned
	// into a cgroup; a plain spawn refuses it then.
	check := cfg
	check.Composed = slices.Clone(cfg.Composed)
	for _, g := range append([]*workload.Config{&check}, ptrs(check.Composed)...) {
		if g.Affinity.TopologyAware() {
			g.Affinity = workload.Inherit()
		}
	}
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if err := checkLabel(label); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return WorkloadValue{C: cfg, Label: label}, nil
}

// maxLabel bounds a label so that summary tables stay readable.
const maxLabel = 64

// checkLabel accepts a label of printable characters without spaces
// at either end, at most maxLabel bytes; "" means none.
func checkLabel(l string) error {
	if len(l) > maxLabel {
		return fmt.Errorf("label: %q is %d bytes, want at most %d", l, len(l), maxLabel)
	}
	if strings.TrimSpace(l) != l {
		return fmt.Errorf("label: %q starts or ends with a space", l)
	}
	for _, r := range l {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("label: %q holds the unprintable character %U", l, r)
		}
	}
	return nil
}

// WorkloadValue is the Starlark value of a spawn request; immutable.
// Label, when set, names the spawn's rows in summaries, --json and
// ktstar compare (see SpawnLabel).
type WorkloadValue struct {
	immutable
	C     workload.Config
	Label string
}

var _ starlark.HasAttrs = WorkloadValue{}

// String renders the constructor call with every field.
func (w WorkloadValue) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workload(workers = %d, work = %s, affinity = %s, policy = %s, nice = ", w.C.Workers, w.C.Work, AffinityValue{A: w.C.Affinity}, PolicyValue{P: w.C.Policy})
	if w.C.Nice != nil {
		fmt.Fprintf(&b, "%d", *w.C.Nice)
	} else {
		b.WriteString("None")
	}
	fmt.Fprintf(&b, ", comm = %q", w.C.Comm)
	if w.C.Warmup > 0 {
		fmt.Fprintf(&b, ", warmup = %q", w.C.Warmup.String())
	}
	if w.Label != "" {
		fmt.Fprintf(&b, ", label = %q", w.Label)
	}
	for _, o := range w.optionals() {
		if o.v != nil {
			fmt.Fprintf(&b, ", %s = %d", o.name, *o.v)
		}
	}
	if w.C.MemPolicy.Mode > 0 {
		fmt.Fprintf(&b, ", mem_policy = %s", MemPolicyValue{P: w.C.MemPolicy})
	}
	if w.C.CloneMode != workload.CloneFork {
		fmt.Fprintf(&b, ", clone_mode = %q", w.C.CloneMode)
	}
	if w.C.Pcomm != "" {
		fmt.Fprintf(&b, ", pcomm = %q", w.C.Pcomm)
	}
	if len(w.C.Composed) > 0 {
		b.WriteString(", composed = ")
		b.WriteString(w.composed().String())
	}
	b.WriteString(")")
	return b.String()
}

// composed is the composed groups as a list of workload values.
func (w WorkloadValue) composed() *starlark.List {
	l := make([]starlark.Value, len(w.C.Composed))
	for i, c := range w.C.Composed {
		l[i] = WorkloadValue{C: c}
	}
	list := starlark.NewList(l)
	list.Freeze()
	return list
}

// ptrs returns pointers to the elements of s.
func ptrs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// optionals are the fields rendered and listed only when set, so a
// workload without them reads as it always has.
func (w WorkloadValue) optionals() []struct {
	name string
	v    *int
} {
	return []struct {
		name string
		v    *int
	}{{"uid", w.C.UID}, {"gid", w.C.GID}, {"numa_node", w.C.NUMANode}}
}

// Type returns "workload".
func (w WorkloadValue) Type() string { return "workload" }

// Hash hashes the rendered value.
func (w WorkloadValue) Hash() (uint32, error) { return starlark.String(w.String()).Hash() }

// CompareSameType compares workloads for equality.
func (w WorkloadValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(w, op, y)
}

// Attr returns the field of the same name as the constructor's parameter.
func (w WorkloadValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "workers":
		return starlark.MakeInt(w.C.Workers), nil
	case "work":
		return WorkValue{W: w.C.Work}, nil
	case "affinity":
		return AffinityValue{A: w.C.Affinity}, nil
	case "policy":
		return PolicyValue{P: w.C.Policy}, nil
	case "nice":
		if w.C.Nice == nil {
			return starlark.None, nil
		}
		return starlark.MakeInt(*w.C.Nice), nil
	case "comm":
		return starlark.String(w.C.Comm), nil
	case "warmup":
		return timelib.Duration(w.C.Warmup), nil
	case "label":
		return starlark.String(w.Label), nil
	case "composed":
		return w.composed(), nil
	case "mem_policy":
		return MemPolicyValue{P: w.C.MemPolicy}, nil
	case "clone_mode":
		return starlark.String(w.C.CloneMode.String()), nil
	case "pcomm":
		return starlark.String(w.C.Pcomm), nil
	}
	for _, o := range w.optionals() {
		if o.name == name {
			if o.v == nil {
				return starlark.None, nil
			}
			return starlark.MakeInt(*o.v), nil
		}
	}
	return nil, nil
}

// AttrNames lists the fields.
func (w WorkloadValue) AttrNames() []string {
	return []string{"affinity", "clone_mode", "comm", "composed", "gid", "label", "mem_policy", "nice", "numa_node", "pcomm", "policy", "uid", "warmup", "work", "workers"}
}

// WorkloadJSON is the JSON form of a spawn request in `--json` output.
type WorkloadJSON struct {
	Workers   int           `json:"workers"`
	Work      workload.Work `json:"work"`
	Affinity  string        `json:"affinity"`
	Policy    string        `json:"policy"`
	Nice      *int          `json:"nice"`
	Comm      string        `json:"comm"`
	Warmup    time.Duration `json:"warmup_ns,omitempty"`
	UID       *int          `json:"uid,omitempty"`
	GID       *int          `json:"gid,omitempty"`
	NUMANode  *int          `json:"numa_node,omitempty"`
	MemPolicy string        `json:"mem_policy,omitempty"`
	CloneMode string        `json:"clone_mode,omitempty"` // "thread"; omitted for "fork"
	Pcomm     string        `json:"pcomm,omitempty"`
	// Composed are the groups spawned beside this one (group_idx 1..N).
	Composed []WorkloadJSON `json:"composed,omitempty"`
	Label    string         `json:"label,omitempty"` // workload(label = ...)
}

func workloadJSON(c workload.Config, label string) WorkloadJSON {
	var comp []WorkloadJSON
	for _, e := range c.Composed {
		comp = append(comp, workloadJSON(e, ""))
	}
	mem := ""
	if c.MemPolicy.Mode > 0 {
		mem = c.MemPolicy.String()
	}
	clone := ""
	if c.CloneMode != workload.CloneFork {
		clone = c.CloneMode.String()
	}
	return WorkloadJSON{Composed: comp, MemPolicy: mem, CloneMode: clone, Pcomm: c.Pcomm, Workers: c.Workers, Work: c.Work, Affinity: c.Affinity.String(), Policy: c.Policy.String(), Nice: c.Nice, Comm: c.Comm, Warmup: c.Warmup, UID: c.UID, GID: c.GID, NUMANode: c.NUMANode, Label: label}
}
