// Package result is the file ktstar's --json writes and its readers
// (ktstar summary, compare and report) read: the run's header (script,
// arguments, host, times), every stopped spawn of every repetition with
// its reports, per-group summary rows and timeline, every check call, and
// the --scheduler process with the scenario steps its faults failed.
//
// A document holds Repeat repetitions of one script; each Run and Check
// names the repetition it belongs to (0 to Repeat-1). Rows carry a label
// that is the same in every repetition and every run of the script, which
// is how two results are joined.
package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ktstar/ktstar/scheduler"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
)

// SchemaVersion numbers the layout of the document; a reader checks it
// before trusting a field. A file without it is version 1.
// 2: reports carry sample_kind, wake_stats and wake_latencies_note; group
// rows carry sample_kind, exact wake aggregates and run delay.
// 3: rows have a label and timer figures; runs a repetition, a timeline
// and, when the run's end collected them, interrupted.
// 4: a scenario's backdrop reports carry phase_slices, and its runs a
// row per step ("LABEL step K").
const SchemaVersion = 4

// Doc is the --json document.
type Doc struct {
	SchemaVersion int               `json:"schema_version"`
	Version       string            `json:"ktstar_version"`
	Script        string            `json:"script"`
	Args          []string          `json:"args"`
	Params        map[string]string `json:"params"`
	StartTime     time.Time         `json:"start_time"`
	DurationNs    int64             `json:"duration_ns"` // every repetition, end to end
	Host          Host              `json:"host"`
	ExitStatus    int               `json:"exit_status"`
	Error         string            `json:"error,omitempty"`
	// Repeat is the number of repetitions (--repeat); 0 in a file written
	// before repetitions existed, which holds one.
	Repeat      int          `json:"repeat"`
	Repetitions []Repetition `json:"repetitions,omitempty"`
	Runs        []Run        `json:"runs"`
	Checks      []Check      `json:"checks"` // every checks.evaluate and checks.require call
	// Scheduler is the --scheduler process, started once for every
	// repetition: how it was started, when it was ready, how it ended and
	// everything it printed.
	Scheduler *Scheduler `json:"scheduler,omitempty"`
	// SchedulerFaults say when and why a scenario step failed because its
	// scheduler died or sched_ext changed.
	SchedulerFaults []SchedulerFault `json:"scheduler_faults,omitempty"`
}

// Host describes the machine a run measured.
type Host struct {
	KernelRelease string `json:"kernel_release"`
	CPUCount      int    `json:"cpu_count"` // online CPUs
	CPUModel      string `json:"cpu_model"`
	// Scheduler is the scheduler in charge: --scheduler's or a sched_ext
	// scheduler's name, or the kernel's own; "" when unknown.
	Scheduler string `json:"scheduler,omitempty"`
	// The facts a scheduler's behaviour depends on, read before the
	// script (after --scheduler is ready), so they describe the run
	// rather than its aftermath.
	Cmdline    string            `json:"kernel_cmdline,omitempty"`
	Preemption string            `json:"preemption,omitempty"` // none, voluntary, full, lazy, rt, dynamic (MODE), or "" unknown
	CgroupMode string            `json:"cgroup_mode,omitempty"`
	SchedExt   scheduler.State   `json:"sched_ext"`
	Tunables   map[string]string `json:"sched_tunables,omitempty"` // kernel.sched_* sysctls that exist
}

// Scheduler is the record of the --scheduler process.
type Scheduler struct {
	Path       string           `json:"path"`
	Args       []string         `json:"args"`
	Pid        int              `json:"pid"`
	Ready      string           `json:"ready"`
	State      *scheduler.State `json:"sched_ext,omitempty"` // when it was ready
	ExitStatus string           `json:"exit_status,omitempty"`
	Output     []string         `json:"output"`
}

// SchedulerFault is a scheduler's death or sched_ext's change that failed
// a scenario step of a repetition.
type SchedulerFault struct {
	starlib.SchedulerFault
	Repetition int `json:"repetition"`
}

// Repetition is when one repetition ran and how it ended.
type Repetition struct {
	StartTime  time.Time `json:"start_time"`
	DurationNs int64     `json:"duration_ns"`
	ExitStatus int       `json:"exit_status"`
	Error      string    `json:"error,omitempty"`
}

// Run is one stopped spawn with the summary of each of its groups.
type Run struct {
	starlib.Run
	Repetition int           `json:"repetition"`
	Groups     []summary.Row `json:"groups"`
	// Samples summarises each report's wake samples, which ReadCompact
	// drops; nil after Read.
	Samples []SampleStats `json:"-"`
}

// Rows returns the run's summary rows: after ReadCompact, which drops the
// samples they are computed from, the rows the run stored; otherwise, or
// when it stored none (a result written before rows existed), computed
// from its reports as the run did.
func (r Run) Rows() []summary.Row {
	if r.Samples != nil && len(r.Groups) > 0 {
		return r.Groups
	}
	return summary.Rows(r.RowUnits())
}

// Compact reports whether every run's rows can be shown without its
// samples (see Rows).
func (d *Doc) Compact() bool {
	for _, r := range d.Runs {
		if r.Samples == nil || len(r.Groups) == 0 && len(r.Reports) > 0 {
			return false
		}
	}
	return true
}

// Check is one check call of one repetition.
type Check struct {
	starlib.CheckCall
	Repetition int `json:"repetition"`
}

// Reps returns the number of repetitions the document holds.
func (d *Doc) Reps() int { return max(d.Repeat, 1) }

// Read reads and validates a result file (see Decode).
func Read(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Decode parses a result and refuses what is not one: bytes that are not
// one JSON object (a truncated file says so), an object without
// ktstar_version or runs, a repetition outside 0..repeat-1.
func Decode(b []byte) (*Doc, error) {
	var d Doc
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("not a ktstar result: the file is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("not a ktstar result: the JSON ends early (a truncated file?)")
		case errors.As(err, &syn):
			return nil, fmt.Errorf("not a ktstar result: not JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ) && typ.Field == "":
			return nil, fmt.Errorf("not a ktstar result: the JSON is a %s, want an object", typ.Value)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("not a ktstar result: %s holds a %s, want %s", typ.Field, typ.Value, typ.Type)
		}
		return nil, fmt.Errorf("not a ktstar result: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a ktstar result: more than one JSON value")
	}
	if d.Version == "" {
		return nil, errors.New("not a ktstar result: no ktstar_version (write one with ktstar --json FILE SCRIPT.star)")
	}
	if d.Runs == nil {
		return nil, errors.New("not a ktstar result: no runs")
	}
	for i, r := range d.Runs {
		if r.Repetition < 0 || r.Repetition >= d.Reps() {
			return nil, fmt.Errorf("not a ktstar result: runs[%d] is of repetition %d, want 0 to %d", i, r.Repetition, d.Reps()-1)
		}
	}
	return &d, nil
}

// WriteHeader writes what a reader needs before the table: the script
// and its arguments, the kernel and CPUs, when it ran and for how long.
func (d *Doc) WriteHeader(w io.Writer) {
	fmt.Fprintf(w, "%s", d.Script)
	for _, a := range d.Args {
		fmt.Fprintf(w, " %s", a)
	}
	fmt.Fprintf(w, " · kernel %s, %d CPUs · %s · %v", orDash(d.Host.KernelRelease), d.Host.CPUCount,
		d.StartTime.UTC().Format("2006-01-02 15:04:05 UTC"), time.Duration(d.DurationNs).Round(time.Millisecond))
	if d.Reps() > 1 {
		fmt.Fprintf(w, " · %d repetitions", d.Reps())
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
