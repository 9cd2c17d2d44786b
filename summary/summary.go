// Package summary turns the reports and check results of a run into what a
// person reads at a glance: one row per group or cgroup, the check
// verdicts, and optionally a wake-latency histogram per group. The same
// figures go into the JSON result.
package summary

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/stats"
	"github.com/ktstar/ktstar/workload"
)

// Row is the summary of one unit (a group or a cgroup).
type Row struct {
	Name        string  `json:"name"`
	Workers     int     `json:"workers"`
	WorkRate    float64 `json:"work_units_per_s"` // Σ work units / mean wall time
	CPUPct      float64 `json:"cpu_pct"`          // Σ cpu time / Σ wall time × 100
	OffCPUPct   float64 `json:"off_cpu_pct"`
	Migrations  uint64  `json:"migrations"`
	MaxGapMs    uint64  `json:"max_gap_ms"`
	WakeSamples int     `json:"wake_samples"`      // samples held (the reservoirs)
	WakeTotal   uint64  `json:"wake_sample_total"` // observations made
	WakeP50Ns   uint64  `json:"wake_p50_ns"`
	WakeP99Ns   uint64  `json:"wake_p99_ns"`
	WakeP999Ns  uint64  `json:"wake_p999_ns"`
	// Timer samples (timer_latency) are a kind of their own: how late an
	// absolute deadline woke, not a wake-up after a block.
	TimerSamples int    `json:"timer_samples,omitempty"`
	TimerTotal   uint64 `json:"timer_sample_total,omitempty"`
	TimerP50Ns   uint64 `json:"timer_p50_ns,omitempty"`
	TimerP99Ns   uint64 `json:"timer_p99_ns,omitempty"`
	Completed    int    `json:"completed"`
	histogram    []uint64
}

// Rows computes one row per unit.
func Rows(units []checks.Unit) []Row {
	out := make([]Row, len(units))
	for i, u := range units {
		r := Row{Name: u.Name, Workers: len(u.Reports)}
		var cpu, wall, units float64
		sets := make([][]uint64, 0, len(u.Reports))
		timers := make([][]uint64, 0, len(u.Reports))
		for _, rep := range u.Reports {
			cpu += float64(rep.CPUTimeNs)
			wall += float64(rep.WallTimeNs)
			units += float64(rep.WorkUnits)
			r.Migrations += rep.MigrationCount
			r.MaxGapMs = max(r.MaxGapMs, rep.MaxGapMs)
			r.WakeTotal += rep.WakeSampleTotal
			if rep.Completed {
				r.Completed++
			}
			sets = append(sets, rep.WakeLatenciesNs)
			timers = append(timers, rep.TimerLatenciesNs)
			r.TimerTotal += rep.TimerSampleTotal
		}
		if wall > 0 {
			r.CPUPct = cpu / wall * 100
			r.OffCPUPct = 100 - r.CPUPct
			r.WorkRate = units / (wall / float64(len(u.Reports)) / 1e9)
		}
		r.WakeSamples = stats.Count(sets...)
		if r.WakeSamples > 0 {
			p, _ := stats.Percentiles([]float64{50, 99, 99.9}, sets...)
			r.WakeP50Ns, r.WakeP99Ns, r.WakeP999Ns = p[0], p[1], p[2]
			r.histogram = log2Histogram(sets)
		}
		r.TimerSamples = stats.Count(timers...)
		// The merged histograms cover every sample; the reservoirs a subsample.
		if h := workload.TimerHist(u.Reports); h != nil && h.Count() > 0 {
			r.TimerP50Ns, r.TimerP99Ns = h.Percentile(50), h.Percentile(99)
		} else if r.TimerSamples > 0 {
			p, _ := stats.Percentiles([]float64{50, 99}, timers...)
			r.TimerP50Ns, r.TimerP99Ns = p[0], p[1]
		}
		out[i] = r
	}
	return out
}

// log2Histogram counts samples in power-of-two buckets: bucket b holds
// values in [2^b, 2^(b+1)), bucket 0 also holds 0.
func log2Histogram(sets [][]uint64) []uint64 {
	var h [64]uint64
	top := 0
	for _, s := range sets {
		for _, v := range s {
			b := 0
			if v > 0 {
				b = 63 - bits.LeadingZeros64(v)
			}
			h[b]++
			top = max(top, b)
		}
	}
	return h[:top+1]
}

// Options control rendering.
type Options struct {
	Color     bool // green/red verdicts; off for pipes, files and --color=never
	Quiet     bool // print only failed checks
	Histogram bool // add a wake-latency histogram per unit
}

// Write renders the summary table, the histograms and the check results.
func Write(w io.Writer, rows []Row, res checks.Result, opt Options) error {
	if err := WriteTable(w, rows, opt); err != nil {
		return err
	}
	WriteChecks(w, res, opt)
	return nil
}

// WriteTable renders one line per row and, with opt.Histogram, a
// wake-latency histogram per row; with opt.Quiet it writes nothing.
func WriteTable(w io.Writer, rows []Row, opt Options) error {
	if opt.Quiet || len(rows) == 0 {
		return nil
	}
	// Numbers align right, names left: pad the names to one width first.
	width := len("group")
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.Name))
	}
	// Timer columns only when a row has timer samples, so tables of
	// other work types stay as they were.
	timers := slices.ContainsFunc(rows, func(r Row) bool { return r.TimerSamples > 0 })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tworkers\twork/s\tcpu%%\toff-cpu%%\tmigr\tmax gap\twake p50\tp99\tp99.9\tsamples\t", width, "group")
	if timers {
		fmt.Fprint(tw, "timer p50\tp99\tsamples\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%.1f\t%.1f\t%d\t%s\t%s\t%s\t%s\t%s\t",
			width, r.Name, r.Workers, si(r.WorkRate), r.CPUPct, r.OffCPUPct, r.Migrations,
			checks.FormatDuration(float64(r.MaxGapMs)*1e6), lat(r.WakeSamples, r.WakeP50Ns), lat(r.WakeSamples, r.WakeP99Ns), lat(r.WakeSamples, r.WakeP999Ns),
			sampleCount(r.WakeSamples, r.WakeTotal))
		if timers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", lat(r.TimerSamples, r.TimerP50Ns), lat(r.TimerSamples, r.TimerP99Ns), sampleCount(r.TimerSamples, r.TimerTotal))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if opt.Histogram {
		for _, r := range rows {
			writeHistogram(w, r)
		}
	}
	return nil
}

// WriteChecks renders one line per outcome, marked and coloured by its
// status (✓ green, ✗ red, ? yellow, - plain); with opt.Quiet only the
// failures.
func WriteChecks(w io.Writer, res checks.Result, opt Options) {
	pass := color.New(color.FgGreen)
	fail := color.New(color.FgRed, color.Bold)
	warn := color.New(color.FgYellow)
	for _, c := range []*color.Color{pass, fail, warn} {
		if opt.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	for _, o := range res.Outcomes {
		switch o.Status {
		case checks.Fail:
			fail.Fprintln(w, "✗ "+o.String())
		case checks.Inconclusive:
			if !opt.Quiet {
				warn.Fprintln(w, "? "+o.String())
			}
		case checks.Pass:
			if !opt.Quiet {
				pass.Fprintln(w, "✓ "+o.String())
			}
		case checks.Skip:
			if !opt.Quiet {
				fmt.Fprintln(w, "- "+o.String())
			}
		}
	}
}

// lat shows a latency percentile, or "-" when there were no samples.
func lat(held int, v uint64) string {
	if held == 0 {
		return "-"
	}
	return checks.FormatDuration(float64(v))
}

// sampleCount shows the samples held, and the observations made when the
// reservoir dropped some.
func sampleCount(held int, total uint64) string {
	if uint64(held) == total {
		return fmt.Sprint(held)
	}
	return fmt.Sprintf("%d/%d", held, total)
}

// si shows a rate with an SI suffix and three significant digits.
func si(v float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.f {
			return fmt.Sprintf("%.3g%s", v/u.f, u.s)
		}
	}
	return fmt.Sprintf("%.3g", v)
}

func writeHistogram(w io.Writer, r Row) {
	if len(r.histogram) == 0 {
		return
	}
	fmt.Fprintf(w, "\nwake latency, %s (%d samples):\n", r.Name, r.WakeSamples)
	var peak uint64
	first := len(r.histogram)
	for b, n := range r.histogram {
		peak = max(peak, n)
		if n > 0 && b < first {
			first = b
		}
	}
	const width = 40
	for b := first; b < len(r.histogram); b++ {
		n := r.histogram[b]
		lo := uint64(0)
		if b > 0 {
			lo = 1 << b
		}
		bar := int(math.Ceil(float64(n) / float64(peak) * width))
		fmt.Fprintf(w, "  %9s .. %-9s %s %d\n", checks.FormatDuration(float64(lo)), checks.FormatDuration(float64(uint64(1)<<(b+1))), strings.Repeat("█", bar), n)
	}
}
