package checks

import (
	"fmt"
	"strings"
	"time"
)

// Status is the verdict of one check on one unit.
type Status string

// Verdicts, from most to least severe.
const (
	Fail         Status = "fail"
	Inconclusive Status = "inconclusive" // the denominator of a ratio was zero
	Pass         Status = "pass"
	Skip         Status = "skip" // nothing to judge (no samples, no cpuset, …)
)

func (s Status) severity() int {
	switch s {
	case Fail:
		return 3
	case Inconclusive:
		return 2
	case Pass:
		return 1
	}
	return 0
}

// Worker identifies the worst worker behind an outcome.
type Worker struct {
	Tid    int    `json:"tid"`
	Group  int    `json:"group"`
	Cgroup string `json:"cgroup,omitempty"`
}

// Outcome is the verdict of one check on one unit.
type Outcome struct {
	Check     string  `json:"check"`
	Scope     string  `json:"scope"` // the unit: "group 0", a cgroup name
	Status    Status  `json:"status"`
	Threshold float64 `json:"threshold"` // 0 for flags
	Observed  float64 `json:"observed"`
	Unit      string  `json:"unit"`
	Samples   int     `json:"samples,omitempty"` // for percentiles: how many samples
	// SampleKind is what the samples measure (workload.SampleKind), for
	// checks on latency: a p99 of oversleeps is not a p99 of wakes.
	SampleKind string  `json:"sample_kind,omitempty"`
	Worst      *Worker `json:"worst,omitempty"`
	Detail     string  `json:"detail,omitempty"` // what was seen, or why skipped
}

// String renders the outcome as one line naming the check, the threshold,
// the observed value and the worst worker.
func (o Outcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s]: %s", o.Check, o.Scope, strings.ToUpper(string(o.Status)))
	if o.Status == Skip {
		fmt.Fprintf(&b, " (%s)", o.Detail)
		return b.String()
	}
	c, _ := Lookup(o.Check)
	switch c.Kind {
	case Flag:
		fmt.Fprintf(&b, ", observed %s", o.format(o.Observed))
	case Max:
		fmt.Fprintf(&b, ", observed %s, threshold ≤ %s", o.format(o.Observed), o.format(o.Threshold))
	case Min:
		fmt.Fprintf(&b, ", observed %s, threshold ≥ %s", o.format(o.Observed), o.format(o.Threshold))
	}
	if o.Samples > 0 {
		kind := ""
		if o.SampleKind != "" {
			kind = o.SampleKind + " "
		}
		fmt.Fprintf(&b, " over %d %ssamples", o.Samples, kind)
	}
	if o.Worst != nil {
		fmt.Fprintf(&b, "; worst worker tid %d (group %d", o.Worst.Tid, o.Worst.Group)
		if o.Worst.Cgroup != "" {
			fmt.Fprintf(&b, ", cgroup %s", o.Worst.Cgroup)
		}
		b.WriteString(")")
	}
	if o.Detail != "" {
		fmt.Fprintf(&b, ": %s", o.Detail)
	}
	return b.String()
}

// format shows a value in the check's unit; latencies as durations.
func (o Outcome) format(v float64) string {
	switch o.Unit {
	case "ns":
		return FormatDuration(v)
	case "ms":
		return FormatDuration(v * 1e6)
	case "%":
		return fmt.Sprintf("%.1f%%", v)
	case "ratio":
		return fmt.Sprintf("%.4g", v)
	case "workers":
		return fmt.Sprintf("%g %s", v, o.Unit)
	}
	return fmt.Sprintf("%.4g %s", v, o.Unit)
}

// FormatDuration shows nanoseconds as a duration with three significant
// digits (950ns, 12.3µs, 4.56ms, 2.1s); zero is "0", whatever the unit.
func FormatDuration(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.3gµs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.3gms", ns/1e6)
	}
	return time.Duration(ns).Round(time.Millisecond).String()
}

// Result is every outcome of one evaluation.
type Result struct {
	Outcomes []Outcome `json:"outcomes"`
}

// Verdict is the most severe status present (Fail > Inconclusive > Pass >
// Skip); no outcome at all is a Pass.
func (r Result) Verdict() Status {
	if len(r.Outcomes) == 0 {
		return Pass
	}
	v := Skip
	for _, o := range r.Outcomes {
		if o.Status.severity() > v.severity() {
			v = o.Status
		}
	}
	return v
}

// Failed returns the outcomes that failed.
func (r Result) Failed() []Outcome {
	var out []Outcome
	for _, o := range r.Outcomes {
		if o.Status == Fail {
			out = append(out, o)
		}
	}
	return out
}

// Err returns nil when nothing failed, otherwise an error listing every
// failed check, one per line.
func (r Result) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	lines := make([]string, len(failed))
	for i, o := range failed {
		lines[i] = "  " + o.String()
	}
	return fmt.Errorf("%d check(s) failed:\n%s", len(failed), strings.Join(lines, "\n"))
}
