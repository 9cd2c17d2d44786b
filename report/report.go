// Package report renders a ktstar result as one self-contained HTML
// file: the run's header, the summary table, every check with its
// verdict and, per group, plots of the latency distribution (histogram
// and CDF), of throughput over time and of CPU and run delay per worker;
// with a baseline, both runs overlaid and the comparison table. The
// plots are SVG drawn by gonum.org/v1/plot and inlined: the page loads
// nothing from anywhere and runs no script.
package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/compare"
	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/summary"
)

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"duration": func(ns float64) string { return checks.FormatDuration(ns) },
	"si":       summary.SI,
	"pct":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"lower":    strings.ToLower,
	"ns":       func(v uint64) float64 { return float64(v) },
	"mulms":    func(v uint64) float64 { return float64(v) * 1e6 },
	"metric":   metricValue,
}).ParseFS(files, "report.html.tmpl"))

// Input is what a report shows: a result read with result.ReadCompact
// (with histograms), and optionally its baseline and their comparison.
type Input struct {
	Path     string
	Doc      *result.Doc
	BasePath string
	Base     *result.Doc     // nil without a baseline
	Compare  *compare.Report // nil without a baseline
}

// view is what the template renders.
type view struct {
	Title    string
	Doc      *result.Doc
	Path     string
	BasePath string
	Started  string
	Duration string
	Rows     []summary.Row
	Medians  bool
	Checks   []checkView
	Compare  *compare.Report
	Groups   []groupView
}

type checkView struct {
	Repetition int
	Call       string
	Outcome    checks.Outcome
	Text       string
}

type groupView struct {
	Label string
	Plots []template.HTML
	Note  string
}

// Write renders in as HTML to w.
func Write(w io.Writer, in Input) error {
	d := in.Doc
	v := view{
		Title: d.Script, Doc: d, Path: in.Path, BasePath: in.BasePath, Compare: in.Compare,
		Started:  d.StartTime.UTC().Format("2006-01-02 15:04:05 UTC"),
		Duration: time.Duration(d.DurationNs).Round(time.Millisecond).String(),
		Medians:  d.Reps() > 1,
	}
	reps := make([][]summary.Row, d.Reps())
	for _, r := range d.Runs {
		reps[r.Repetition] = append(reps[r.Repetition], r.Rows()...)
	}
	if v.Medians {
		v.Rows = summary.Median(reps)
	} else {
		v.Rows = reps[0]
	}
	for _, c := range d.Checks {
		for _, o := range c.Outcomes {
			v.Checks = append(v.Checks, checkView{Repetition: c.Repetition + 1, Call: c.Function + " at " + c.Call, Outcome: o, Text: o.String()})
		}
	}
	groups, err := plotGroups(d, in.Base)
	if err != nil {
		return err
	}
	v.Groups = groups
	return page.Execute(w, v)
}

// metricValue prints a compared figure in its metric's unit.
func metricValue(name string, v float64) string {
	m, _ := compare.MetricByName(name)
	return m.Format(v)
}

// plotGroups draws every group's plots, in the order of the result's
// labels; a baseline adds its side to each plot.
func plotGroups(d, base *result.Doc) ([]groupView, error) {
	sides := []series{{name: "this run", color: colNew}}
	docs := []*result.Doc{d}
	if base != nil {
		sides = append(sides, series{name: "baseline", color: colBase, dash: true})
		docs = append(docs, base)
	}
	data := make([]map[string]*groupData, len(docs))
	var order []string
	for i, doc := range docs {
		var o []string
		var err error
		if data[i], o, err = collect(doc); err != nil {
			return nil, err
		}
		if i == 0 {
			order = o
		}
	}
	var out []groupView
	for _, label := range order {
		g := groupView{Label: label}
		var hists []*hist.Hist
		var tls [][]*timelinePart
		var pts [][]workerPoint
		var ss []series
		for i := range docs {
			gd, ok := data[i][label]
			if !ok {
				if i > 0 {
					g.Note = "not in the baseline"
				}
				continue
			}
			hists = append(hists, gd.hist)
			tls = append(tls, gd.timelines)
			pts = append(pts, gd.workers)
			ss = append(ss, sides[i])
		}
		h, c, err := latencyPlots(data[0][label].kind, hists, ss)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", label, err)
		}
		tp, err := throughputPlot(tls, ss)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", label, err)
		}
		wp, err := workersPlot(pts, ss)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", label, err)
		}
		for _, s := range []string{h, c, tp, wp} {
			if s == "" {
				continue
			}
			g.Plots = append(g.Plots, template.HTML(s)) // gonum's SVG of our own numbers and fixed titles
		}
		out = append(out, g)
	}
	return out, nil
}

// groupData is one label's data over every repetition of one result.
type groupData struct {
	kind      string     // what its samples measure (the rows' sample_kind)
	hist      *hist.Hist // nil until a report with samples
	timelines []*timelinePart
	workers   []workerPoint
}

// merge adds a worker's histogram to the group's.
func (g *groupData) merge(s hist.Summary) error {
	h, err := hist.FromSummary(s)
	if err != nil {
		return err
	}
	if g.hist == nil {
		g.hist = h
		return nil
	}
	return g.hist.Merge(h)
}

// collect gathers each label's data, and the labels in order. d must
// come from result.ReadCompact with histograms.
func collect(d *result.Doc) (map[string]*groupData, []string, error) {
	out := map[string]*groupData{}
	var order []string
	for _, run := range d.Runs {
		index := make(map[int]int, len(run.Reports))
		for i, r := range run.Reports {
			index[r.Tid] = i
		}
		for ui, u := range run.Units() {
			label := u.Name
			if ui < len(run.Groups) {
				label = run.Groups[ui].Label
			}
			gd, ok := out[label]
			if !ok {
				gd = &groupData{}
				out[label] = gd
				order = append(order, label)
			}
			tp := &timelinePart{}
			if run.Timeline != nil {
				tp.tNs = run.Timeline.TNs
			}
			// The row's histogram covers every sample (wake_stats); a
			// result written before it existed has the reservoirs'.
			if ui < len(run.Groups) && run.Groups[ui].SampleKind != "" {
				gd.kind = run.Groups[ui].SampleKind
			}
			exact := ui < len(run.Groups) && run.Groups[ui].WakeStats != nil
			if exact {
				if err := gd.merge(*run.Groups[ui].WakeStats); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", label, err)
				}
			}
			for _, r := range u.Reports {
				i := index[r.Tid]
				if !exact && i < len(run.Samples) && run.Samples[i].Hist != nil {
					if err := gd.merge(*run.Samples[i].Hist); err != nil {
						return nil, nil, fmt.Errorf("%s: %w", label, err)
					}
				}
				if run.Timeline != nil && i < len(run.Timeline.Iterations) {
					tp.workers = append(tp.workers, run.Timeline.Iterations[i])
				}
				var pt workerPoint
				if r.WallTimeNs > 0 {
					pt.cpu = float64(r.CPUTimeNs) / float64(r.WallTimeNs) * 100
					pt.delay = float64(r.SchedstatRunDelayNs) / float64(r.WallTimeNs) * 100
				}
				gd.workers = append(gd.workers, pt)
			}
			if len(tp.workers) > 0 {
				gd.timelines = append(gd.timelines, tp)
			}
		}
	}
	return out, order, nil
}
