// Package compare says what changed between two ktstar results, group by
// group and metric by metric, and whether the change is significant, the
// way benchstat does: each side's figures are a sample (one value per
// repetition, or per worker when a side ran once), summarised by its
// median with a confidence interval, and the two samples are tested with
// the Mann–Whitney U test. The statistics are golang.org/x/perf's
// benchmath, not our own. Gates (--max-regress) turn a significant change
// for the worse past an absolute and/or relative threshold into a named
// regression.
package compare

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/perf/benchmath"

	"github.com/ktstar/ktstar/result"
)

// Confidence is the level of the intervals shown around each median.
const Confidence = 0.95

// Mode says what one value of a sample is.
type Mode string

// Modes: a value per repetition when both sides repeated the script,
// otherwise a value per worker.
const (
	PerRepetition Mode = "repetitions"
	PerWorker     Mode = "workers"
)

// Gate is a threshold on one metric's change for the worse: a regression
// must be significant and exceed every threshold set.
type Gate struct {
	Metric string
	// RelPct, when positive, is the relative change allowed, in percent.
	RelPct float64
	// Abs, when positive, is the absolute change allowed, in the
	// metric's unit (ns for time metrics).
	Abs float64
}

// String renders the gate as --max-regress takes it.
func (g Gate) String() string {
	var parts []string
	if g.RelPct > 0 {
		parts = append(parts, strconv.FormatFloat(g.RelPct, 'g', -1, 64)+"%")
	}
	if g.Abs > 0 {
		if m, _ := MetricByName(g.Metric); m.Time {
			parts = append(parts, time.Duration(g.Abs).String())
		} else {
			parts = append(parts, strconv.FormatFloat(g.Abs, 'g', -1, 64))
		}
	}
	return g.Metric + "=" + strings.Join(parts, "+")
}

// ParseGates reads --max-regress: comma-separated METRIC=LIMIT where a
// limit is a percentage (10%), an absolute change in the metric's unit (a
// duration such as 50us for time metrics, a number otherwise), or both
// joined by + (10%+50us: a regression must exceed both, like ktstr's
// absolute-and-relative gates).
func ParseGates(s string) ([]Gate, error) {
	var out []Gate
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, limits, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("--max-regress %q: want METRIC=LIMIT, e.g. p99=10%%", item)
		}
		m, ok := MetricByName(name)
		if !ok {
			return nil, fmt.Errorf("--max-regress %q: unknown metric %q (metrics: %s)", item, name, strings.Join(Names(), ", "))
		}
		g := Gate{Metric: name}
		for _, l := range strings.Split(limits, "+") {
			if p, isPct := strings.CutSuffix(l, "%"); isPct {
				v, err := strconv.ParseFloat(p, 64)
				if err != nil || !(v > 0) {
					return nil, fmt.Errorf("--max-regress %q: %q: want a percentage above 0, e.g. 10%%", item, l)
				}
				g.RelPct = v
				continue
			}
			var v float64
			var err error
			if m.Time {
				var d time.Duration
				d, err = time.ParseDuration(l)
				v = float64(d)
			} else {
				v, err = strconv.ParseFloat(l, 64)
			}
			if err != nil || !(v > 0) {
				what := "a number above 0"
				if m.Time {
					what = "a duration above 0, e.g. 50us"
				}
				return nil, fmt.Errorf("--max-regress %q: %q: want a percentage or %s", item, l, what)
			}
			g.Abs = v
		}
		out = append(out, g)
	}
	return out, nil
}

// Names lists the metrics' names.
func Names() []string {
	out := make([]string, len(Metrics))
	for i, m := range Metrics {
		out[i] = m.Name
	}
	return out
}

// Stat is one side's sample of one metric.
type Stat struct {
	Center float64 `json:"center"` // the median
	Lo     float64 `json:"lo"`     // the confidence interval
	Hi     float64 `json:"hi"`
	N      int     `json:"n"`
	// Open is true when there are too few values for an interval at
	// the Confidence level.
	Open bool `json:"open,omitempty"`
}

// Change is one metric of one group, compared.
type Change struct {
	Metric      string  `json:"metric"`
	Base        Stat    `json:"base"`
	New         Stat    `json:"new"`
	DeltaPct    float64 `json:"delta_pct"` // (new/base − 1) × 100 of the medians; 0 when base is 0
	P           float64 `json:"p"`         // Mann–Whitney U
	Significant bool    `json:"significant"`
	Worse       bool    `json:"worse"` // the change goes the bad way (significant or not)
	// Regression names the gate it broke ("p99=10%"); empty otherwise.
	Regression string   `json:"regression,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// Group is one label compared; Status is "both", "added" (only in the
// new result) or "removed" (only in the base).
type Group struct {
	Label  string `json:"label"`
	Status string `json:"status"`
	// Kind is what the group's latency samples measure (its rows'
	// sample_kind); "base-kind → new-kind" when the two differ.
	Kind    string   `json:"sample_kind,omitempty"`
	Changes []Change `json:"changes,omitempty"`
}

// Report is the comparison of two results.
type Report struct {
	Base        string   `json:"base"`
	New         string   `json:"new"`
	Mode        Mode     `json:"mode"`
	Alpha       float64  `json:"alpha"`
	Gates       []string `json:"gates"`
	Groups      []Group  `json:"groups"`
	Regressions []string `json:"regressions"` // "web: p99 +20.1% (p=0.008) past p99=10%"
}

// sideSamples is, per label and metric, one side's values.
type sideSamples struct {
	order  []string
	values map[string]map[string][]float64
	kinds  map[string]string // label → the rows' sample kind
}

// collect gathers one side's values in mode.
func collect(d *result.Doc, mode Mode) sideSamples {
	s := sideSamples{values: map[string]map[string][]float64{}, kinds: map[string]string{}}
	add := func(label, metric string, v float64) {
		if _, ok := s.values[label]; !ok {
			s.order = append(s.order, label)
			s.values[label] = map[string][]float64{}
		}
		s.values[label][metric] = append(s.values[label][metric], v)
	}
	for _, run := range d.Runs {
		byTid := make(map[int]result.SampleStats, len(run.Samples))
		for i, st := range run.Samples {
			byTid[run.Reports[i].Tid] = st
		}
		units := run.Units()
		for i, u := range units {
			label := u.Name
			if i < len(run.Groups) {
				label = run.Groups[i].Label
			}
			if _, ok := s.values[label]; !ok {
				s.order = append(s.order, label)
				s.values[label] = map[string][]float64{}
			}
			view := unitView{reports: u.Reports}
			if i < len(run.Groups) {
				view.row = run.Groups[i]
				if k := view.row.SampleKind; k != "" {
					s.kinds[label] = k
				}
			}
			for _, r := range u.Reports {
				view.samples = append(view.samples, byTid[r.Tid])
			}
			for _, m := range Metrics {
				if mode == PerRepetition {
					if v, ok := m.group(view); ok {
						add(label, m.Name, v)
					}
					continue
				}
				for j, r := range u.Reports {
					if !r.Completed {
						continue
					}
					if v, ok := m.worker(r, view.samples[j]); ok {
						add(label, m.Name, v)
					}
				}
			}
		}
	}
	return s
}

// Compare joins base and next by label and metric. Both must come from
// ReadCompact (or carry Samples).
func Compare(base, next *result.Doc, gates []Gate) Report {
	mode := PerRepetition
	if base.Reps() < 2 || next.Reps() < 2 {
		mode = PerWorker
	}
	th := benchmath.DefaultThresholds
	rep := Report{Mode: mode, Alpha: th.CompareAlpha, Gates: []string{}, Groups: []Group{}, Regressions: []string{}}
	for _, g := range gates {
		rep.Gates = append(rep.Gates, g.String())
	}
	bs, ns := collect(base, mode), collect(next, mode)
	for _, label := range bs.order {
		if _, ok := ns.values[label]; !ok {
			rep.Groups = append(rep.Groups, Group{Label: label, Status: "removed"})
			continue
		}
		g := Group{Label: label, Status: "both", Kind: bs.kinds[label]}
		if nk := ns.kinds[label]; nk != g.Kind {
			g.Kind += " → " + nk
		}
		for _, m := range Metrics {
			bv, nv := bs.values[label][m.Name], ns.values[label][m.Name]
			if len(bv) == 0 || len(nv) == 0 {
				continue
			}
			c := change(m, bv, nv, &th)
			for _, gate := range gates {
				if gate.Metric == m.Name && c.Significant && c.Worse && pastGate(gate, c) {
					c.Regression = gate.String()
					rep.Regressions = append(rep.Regressions, fmt.Sprintf("%s: %s %+.1f%% (p=%.3f) past %s", label, m.Name, c.DeltaPct, c.P, c.Regression))
				}
			}
			g.Changes = append(g.Changes, c)
		}
		rep.Groups = append(rep.Groups, g)
	}
	for _, label := range ns.order {
		if _, ok := bs.values[label]; !ok {
			rep.Groups = append(rep.Groups, Group{Label: label, Status: "added"})
		}
	}
	return rep
}

func change(m Metric, bv, nv []float64, th *benchmath.Thresholds) Change {
	bs, ns := benchmath.NewSample(bv, th), benchmath.NewSample(nv, th)
	bsum := benchmath.AssumeNothing.Summary(bs, Confidence)
	nsum := benchmath.AssumeNothing.Summary(ns, Confidence)
	cmp := benchmath.AssumeNothing.Compare(bs, ns)
	c := Change{
		Metric: m.Name,
		Base:   Stat{Center: bsum.Center, Lo: bsum.Lo, Hi: bsum.Hi, N: len(bv)},
		New:    Stat{Center: nsum.Center, Lo: nsum.Lo, Hi: nsum.Hi, N: len(nv)},
		P:      cmp.P, Significant: cmp.P < cmp.Alpha && bsum.Center != nsum.Center,
	}
	if bsum.Center != 0 {
		c.DeltaPct = (nsum.Center/bsum.Center - 1) * 100
	}
	if m.Lower {
		c.Worse = nsum.Center > bsum.Center
	} else {
		c.Worse = nsum.Center < bsum.Center
	}
	for _, w := range slices.Concat(bsum.Warnings, nsum.Warnings, cmp.Warnings) {
		c.Warnings = append(c.Warnings, w.Error())
	}
	// Infinite bounds (too few values for the level, which the
	// warnings say) do not survive JSON: the interval shrinks to the
	// median and Stat.Open marks it.
	for _, s := range []*Stat{&c.Base, &c.New} {
		if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) {
			s.Lo, s.Hi, s.Open = s.Center, s.Center, true
		}
	}
	return c
}

// pastGate reports whether c's change exceeds every threshold of g.
func pastGate(g Gate, c Change) bool {
	diff := math.Abs(c.New.Center - c.Base.Center)
	if g.RelPct > 0 && !(math.Abs(c.DeltaPct) > g.RelPct || c.Base.Center == 0 && diff > 0) {
		return false
	}
	if g.Abs > 0 && !(diff > g.Abs) {
		return false
	}
	return true
}
