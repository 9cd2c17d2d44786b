package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ktstar/ktstar/workload"
)

// options control one benchmark run.
type options struct {
	Pairs    int
	Duration time.Duration
	CPUs     []int // pinned rows: worker i on CPUs[i % n]
}

// result is everything one run measured, as written to the JSON file.
type result struct {
	Host     host        `json:"host"`
	Pairs    int         `json:"pairs"`
	Duration string      `json:"duration"`
	CPUs     string      `json:"cpus"`
	Rows     []rowResult `json:"rows"`
}

// host describes the machine, so figures from different runs can be told apart.
type host struct {
	Kernel string `json:"kernel"`
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Time   string `json:"time"`
}

// rowResult is one row: what ran on each side and each metric's figures.
type rowResult struct {
	Name      string         `json:"name"`
	Section   string         `json:"section"`
	Ktstar    string         `json:"ktstar"`
	Reference string         `json:"reference,omitempty"`
	Affinity  string         `json:"affinity"`
	Skipped   string         `json:"skipped,omitempty"`
	Error     string         `json:"error,omitempty"`
	Metrics   []metricResult `json:"metrics,omitempty"`
}

// metricResult holds one metric's value per pair and its spreads.
type metricResult struct {
	Label  string `json:"label"`
	Key    string `json:"key"`
	RefKey string `json:"reference_key,omitempty"`
	Goal   string `json:"goal,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// NotComparable says why the two sides' units differ; the ratio is
	// then no fidelity figure.
	NotComparable string      `json:"not_comparable,omitempty"`
	Pairs         []pairValue `json:"pairs"`
	Ktstar        spread      `json:"ktstar"`
	Reference     *spread     `json:"reference,omitempty"`
	// Ratio is ktstar / reference per pair, summarised.
	Ratio *spread `json:"ratio,omitempty"`
}

// pairValue is one A B pair's values of a metric.
type pairValue struct {
	Ktstar    float64  `json:"ktstar"`
	Reference *float64 `json:"reference,omitempty"`
	Ratio     *float64 `json:"ratio,omitempty"`
}

// runRows runs every row, printing each pair as it completes to progress,
// and returns the results.
func runRows(e *env, rs []row, o options, progress io.Writer) []rowResult {
	out := make([]rowResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, runRow(e, r, o, progress))
	}
	return out
}

func runRow(e *env, r row, o options, progress io.Writer) rowResult {
	res := rowResult{Name: r.Name, Section: r.Section, Ktstar: r.A.Describe(), Affinity: "inherit (all CPUs)"}
	if r.B != nil {
		res.Reference = r.B.Describe()
	}
	var cpus []int
	if r.Pin {
		cpus = o.CPUs
		res.Affinity = "worker i pinned to CPU " + workload.FormatCPUList(o.CPUs) + "[i mod n]"
	}
	for _, s := range []runner{r.A, r.B} {
		if s == nil {
			continue
		}
		if why := s.Missing(e); why != "" {
			res.Skipped = why
			fmt.Fprintf(progress, "%-40s skipped: %s\n", r.Name, why)
			return res
		}
	}
	fmt.Fprintf(progress, "%s\n  A: %s\n", r.Name, res.Ktstar)
	if r.B != nil {
		fmt.Fprintf(progress, "  B: %s\n", res.Reference)
	}
	var as, bs []figures
	for p := range o.Pairs {
		fa, err := r.A.Run(e, o.Duration, cpus)
		if err != nil {
			res.Error = fmt.Sprintf("pair %d, ktstar: %v", p+1, err)
			break
		}
		var fb figures
		if r.B != nil {
			if fb, err = r.B.Run(e, o.Duration, cpus); err != nil {
				res.Error = fmt.Sprintf("pair %d, reference: %v", p+1, err)
				break
			}
		}
		as, bs = append(as, fa), append(bs, fb)
		fmt.Fprintf(progress, "  pair %d:", p+1)
		for _, m := range r.Metrics {
			fmt.Fprintf(progress, "  %s %s", m.Label, formatValue(m.AKey, fa[m.AKey]))
			if fb != nil {
				b := fb[m.bkey()]
				fmt.Fprintf(progress, " / %s = %s", formatValue(m.bkey(), b), formatRatio(ratio(fa[m.AKey], b)))
			}
		}
		fmt.Fprintln(progress)
	}
	if res.Error != "" {
		fmt.Fprintf(progress, "  error: %s\n", res.Error)
	}
	if len(as) == 0 {
		return res
	}
	for _, m := range r.Metrics {
		res.Metrics = append(res.Metrics, summarise(m, as, bs, r.B != nil))
	}
	return res
}

// ratio is a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func summarise(m metric, as, bs []figures, paired bool) metricResult {
	mr := metricResult{Label: m.Label, Key: m.AKey, Goal: m.Goal.String(), NotComparable: m.NotComparable}
	var av, bv, rv []float64
	for i, fa := range as {
		pv := pairValue{Ktstar: fa[m.AKey]}
		av = append(av, pv.Ktstar)
		if paired {
			b := bs[i][m.bkey()]
			pv.Reference = &b
			bv = append(bv, b)
			if r := ratio(pv.Ktstar, b); !math.IsNaN(r) {
				pv.Ratio = &r
				rv = append(rv, r)
			}
		}
		mr.Pairs = append(mr.Pairs, pv)
	}
	mr.Ktstar = spreadOf(av)
	judged := av
	if paired {
		if m.BKey != "" {
			mr.RefKey = m.BKey
		}
		ref, rat := spreadOf(bv), spreadOf(rv)
		mr.Reference, mr.Ratio = &ref, &rat
		judged = rv
	}
	if m.Goal.set() && len(judged) > 0 {
		met := m.Goal.met(spreadOf(judged).Median)
		mr.Met = &met
	}
	return mr
}

// writeTable prints the summary: per metric the ktstar and reference
// medians, the median ratio with its min–max, and the goal.
func writeTable(w io.Writer, res result) {
	fmt.Fprintf(w, "ktstar benchmarks: %d pairs (A B A B …), %s per run, kernel %s, %d CPUs (%s)\n",
		res.Pairs, res.Duration, res.Host.Kernel, res.Host.CPUs, res.Host.Model)
	// One tabwriter per section, so that skip lines (printed after the
	// section's table) do not stretch its columns.
	for _, section := range []string{sectionFidelity, sectionEngine, sectionPeers} {
		var in []rowResult
		for _, r := range res.Rows {
			if r.Section == section {
				in = append(in, r)
			}
		}
		if len(in) > 0 {
			fmt.Fprintf(w, "\n%s\n", section)
			writeSection(w, in)
		}
	}
}

func writeSection(w io.Writer, rs []rowResult) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	if slices.ContainsFunc(rs, func(r rowResult) bool { return len(r.Metrics) > 0 }) {
		fmt.Fprintln(tw, "row\tmetric\tktstar (median)\treference (median)\tratio median [min–max]\tgoal\t")
	}
	var notes []string
	for _, r := range rs {
		switch {
		case r.Skipped != "":
			notes = append(notes, fmt.Sprintf("%s: skipped: %s", r.Name, r.Skipped))
			continue
		case r.Error != "":
			notes = append(notes, fmt.Sprintf("%s: error: %s", r.Name, r.Error))
		}
		for i, m := range r.Metrics {
			name := r.Name
			if i > 0 {
				name = ""
			}
			ref, rat := "—", ""
			if m.Reference != nil {
				refKey := m.RefKey
				if refKey == "" {
					refKey = m.Key
				}
				ref = formatValue(refKey, m.Reference.Median)
				rat = fmt.Sprintf("%s [%s–%s]", formatRatio(m.Ratio.Median), formatRatio(m.Ratio.Min), formatRatio(m.Ratio.Max))
			} else {
				rat = fmt.Sprintf("(value) [%s–%s]", formatValue(m.Key, m.Ktstar.Min), formatValue(m.Key, m.Ktstar.Max))
			}
			verdict := m.Goal
			if m.Met != nil {
				verdict += map[bool]string{true: " ok", false: " MISSED"}[*m.Met]
			}
			if m.NotComparable != "" {
				verdict = "not comparable"
				notes = append(notes, fmt.Sprintf("%s, %s: not comparable: %s", r.Name, m.Label, m.NotComparable))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, m.Label, formatValue(m.Key, m.Ktstar.Median), ref, rat, verdict)
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

// writeJSON writes the whole result, indented.
func writeJSON(w io.Writer, res result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// formatValue renders a figure by the unit its key ends in.
func formatValue(key string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case strings.HasSuffix(key, "_ns"):
		return scaled(v, " ms", " µs", " ns")
	case strings.HasSuffix(key, "_kb"):
		return fmt.Sprintf("%.0f KiB", v)
	case strings.HasSuffix(key, "_ms"):
		return fmt.Sprintf("%.1f ms", v)
	case strings.HasSuffix(key, "_per_s"):
		return scaled(v, "M/s", "k/s", "/s")
	}
	return fmt.Sprintf("%.4g", v)
}

// scaled renders v in the largest of three units a factor of 1000 apart
// (mega, kilo, one) that it reaches, to three significant digits.
func scaled(v float64, mega, kilo, one string) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3g%s", v/1e6, mega)
	case v >= 1e3:
		return fmt.Sprintf("%.3g%s", v/1e3, kilo)
	}
	return fmt.Sprintf("%.3g%s", v, one)
}

func formatRatio(r float64) string {
	if math.IsNaN(r) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", r)
}
