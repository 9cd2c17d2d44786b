package starlib

import (
	"fmt"
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
//	             policy = sched.normal(), nice = None, comm = "", warmup = "0s", label = "") -> workload
//
// (keyword arguments only). warmup (a duration or "500ms") leaves the first
// part of the run out of samples and gap tracking; work is still counted.
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
		warmup  durationParam
		label   string
	)
	if err := starlark.UnpackArgs(b.Name(), nil, kwargs,
		"workers", &workers, "work?", &work, "affinity?", &aff,
		"policy?", &policy, "nice?", &nice, "comm?", &comm, "warmup?", &warmup, "label?", &label); err != nil {
		return nil, err
	}
	cfg := workload.Config{Workers: workers, Work: work.W, Affinity: aff.A, Policy: policy.P, Comm: comm}
	if nice != nil && nice != starlark.None {
		var n int
		if err := starlark.AsInt(nice, &n); err != nil {
			return nil, fmt.Errorf("%s: for parameter nice: got %s, want int or None", b.Name(), nice.Type())
		}
		cfg.Nice = &n
	}
	cfg.Warmup = time.Duration(warmup)
	// A topology-aware affinity is resolved when the workload is spawned
	// into a cgroup; a plain spawn refuses it then.
	check := cfg
	if cfg.Affinity.TopologyAware() {
		check.Affinity = workload.Inherit()
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
	b.WriteString(")")
	return b.String()
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
	}
	return nil, nil
}

// AttrNames lists the fields.
func (w WorkloadValue) AttrNames() []string {
	return []string{"affinity", "comm", "label", "nice", "policy", "warmup", "work", "workers"}
}

// WorkloadJSON is the JSON form of a spawn request in `--json` output.
type WorkloadJSON struct {
	Workers  int           `json:"workers"`
	Work     workload.Work `json:"work"`
	Affinity string        `json:"affinity"`
	Policy   string        `json:"policy"`
	Nice     *int          `json:"nice"`
	Comm     string        `json:"comm"`
	Warmup   time.Duration `json:"warmup_ns,omitempty"`
	Label    string        `json:"label,omitempty"` // workload(label = ...)
}

func workloadJSON(c workload.Config, label string) WorkloadJSON {
	return WorkloadJSON{Workers: c.Workers, Work: c.Work, Affinity: c.Affinity.String(), Policy: c.Policy.String(), Nice: c.Nice, Comm: c.Comm, Warmup: c.Warmup, Label: label}
}
