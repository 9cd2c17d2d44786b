package compare

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/summary"
)

// WriteText renders the report for a person, benchstat's way: per group,
// each metric's base and new medians with the spread of their confidence
// intervals, then the change and its p-value, or "~" when the difference
// is not significant.
func (r Report) WriteText(w io.Writer) error {
	per := "repetition"
	if r.Mode == PerWorker {
		per = "worker (a side ran once)"
	}
	fmt.Fprintf(w, "base %s, new %s: one value per %s; medians ± the %.0f%% confidence interval; Mann–Whitney U, α=%g\n",
		r.Base, r.New, per, Confidence*100, r.Alpha)
	// Numbers align right, names left: pad the names to one width first.
	width := len("max_gap") + 2
	for _, g := range r.Groups {
		width = max(width, utf8.RuneCountInString(g.Label)+utf8.RuneCountInString(g.Kind)+3)
	}
	for _, m := range Metrics {
		width = max(width, len(m.Name)+2)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, g := range r.Groups {
		if g.Status != "both" {
			continue
		}
		name := g.Label
		if g.Kind != "" {
			name += " (" + g.Kind + ")"
		}
		fmt.Fprintf(tw, "%-*s\tbase\t±\tnew\t±\tvs base\t\n", width, name)
		for _, c := range g.Changes {
			m, _ := MetricByName(c.Metric)
			delta := "~"
			if c.Significant {
				delta = fmt.Sprintf("%+.2f%%", c.DeltaPct)
				if c.Base.Center == 0 {
					delta = "?"
				}
			}
			verdict := ""
			if c.Regression != "" {
				verdict = "  ✗ past " + c.Regression
			}
			fmt.Fprintf(tw, "  %-*s\t%s\t%s\t%s\t%s\t%s (p=%.3f n=%s)\t%s\n", width-2, c.Metric,
				m.Format(c.Base.Center), spread(c.Base), m.Format(c.New.Center), spread(c.New), delta, c.P, ns(c), verdict)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if note := openNote(r); note != "" {
		fmt.Fprintf(w, "∞: %s\n", note)
	}
	for _, g := range r.Groups {
		if g.Status != "both" {
			fmt.Fprintf(w, "%s: %s (only in the %s result)\n", g.Status, g.Label, map[string]string{"added": "new", "removed": "base"}[g.Status])
		}
	}
	if len(r.Regressions) > 0 {
		fmt.Fprintf(w, "%d significant regression(s):\n", len(r.Regressions))
		for _, s := range r.Regressions {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}

// Format prints a figure of m in its unit: a duration, a percentage or
// a number with an SI suffix.
func (m Metric) Format(v float64) string {
	switch {
	case m.Time:
		return checks.FormatDuration(v)
	case strings.HasSuffix(m.Name, "_pct"):
		return fmt.Sprintf("%.1f%%", v)
	}
	return summary.SI(v)
}

// openNote is benchmath's reason for an interval too wide to give, when
// some median has one.
func openNote(r Report) string {
	for _, g := range r.Groups {
		for _, c := range g.Changes {
			if !c.Base.Open && !c.New.Open {
				continue
			}
			for _, w := range c.Warnings {
				if strings.Contains(w, "confidence interval") {
					return w
				}
			}
		}
	}
	return ""
}

// spread is the interval's larger distance from the median, in percent
// of it (benchstat's ±); ∞ when there are too few values for one.
func spread(s Stat) string {
	switch {
	case s.Open:
		return "∞"
	case s.Center == 0:
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*math.Max(s.Hi/s.Center-1, 1-s.Lo/s.Center))
}

func ns(c Change) string {
	if c.Base.N == c.New.N {
		return fmt.Sprint(c.Base.N)
	}
	return fmt.Sprintf("%d+%d", c.Base.N, c.New.N)
}
