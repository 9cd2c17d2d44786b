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
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/stats"
	"github.com/ktstar/ktstar/workload"
)

// Row is the summary of one unit (a group or a cgroup). Label is stable
// across runs of the same script (starlib.SpawnLabel), so rows of two
// results join by it.
type Row struct {
	Label      string  `json:"label"`
	Workers    int     `json:"workers"`
	WorkRate   float64 `json:"work_units_per_s"` // Σ work units / mean wall time
	CPUPct     float64 `json:"cpu_pct"`          // Σ cpu time / Σ wall time × 100
	OffCPUPct  float64 `json:"off_cpu_pct"`
	Migrations uint64  `json:"migrations"`
	MaxGapMs   uint64  `json:"max_gap_ms"`
	// RunDelayP50Ns is the median over the unit's workers of each one's
	// schedstat run delay (time runnable but waiting for a CPU);
	// RunDelayTotalNs is their sum.
	RunDelayP50Ns   uint64 `json:"run_delay_p50_ns"`
	RunDelayTotalNs uint64 `json:"run_delay_total_ns"`
	// SampleKind says what the wake samples measure (a workload.SampleKind);
	// "mixed" when the unit's workers record different kinds.
	SampleKind  string  `json:"sample_kind,omitempty"`
	WakeSamples int     `json:"wake_samples"`      // samples held (the reservoirs)
	WakeTotal   uint64  `json:"wake_sample_total"` // observations made
	WakeMinNs   uint64  `json:"wake_min_ns"`
	WakeP50Ns   uint64  `json:"wake_p50_ns"`
	WakeP90Ns   uint64  `json:"wake_p90_ns"`
	WakeP99Ns   uint64  `json:"wake_p99_ns"`
	WakeP999Ns  uint64  `json:"wake_p999_ns"`
	WakeMaxNs   uint64  `json:"wake_max_ns"`
	WakeMeanNs  float64 `json:"wake_mean_ns"`
	// WakeStats merges the workers' histograms: exact count, min, max and
	// sum over every sample, the percentiles above and the buckets. Nil for
	// a result written before reports had them (figures then come from the
	// reservoirs).
	WakeStats *hist.Summary `json:"wake_stats,omitempty"`
	// Timer samples (timer_latency) are a kind of their own: how late an
	// absolute deadline woke, not a wake-up after a block.
	TimerSamples int    `json:"timer_samples,omitempty"`      // held in the reservoirs
	TimerTotal   uint64 `json:"timer_sample_total,omitempty"` // observations made
	TimerExact   bool   `json:"-"`                            // figures from the merged histograms
	TimerP50Ns   uint64 `json:"timer_p50_ns,omitempty"`
	TimerP99Ns   uint64 `json:"timer_p99_ns,omitempty"`
	Completed    int    `json:"completed"`
	// SchedExt says where the unit's sched.ext() workers ran (their
	// reports' sched_ext, the distinct ones joined with "; "); "" for
	// other policies.
	SchedExt  string `json:"sched_ext,omitempty"`
	histogram []uint64
	spread    *spread // set on the medians of repetitions (Median)
}

// spread is how far repetitions strayed from their median: (max-min) /
// median × 100 of the work rate and of the wake p99.
type spread struct {
	reps              int
	workRate, wakeP99 float64
}

// Median folds the rows of several repetitions into one row per label
// (in order of first appearance): each figure is the median over the
// repetitions that have the label, and the table shows the spread of the
// work rate and the wake p99.
func Median(reps [][]Row) []Row {
	var order []string
	by := map[string][]Row{}
	for _, rows := range reps {
		for _, r := range rows {
			if _, ok := by[r.Label]; !ok {
				order = append(order, r.Label)
			}
			by[r.Label] = append(by[r.Label], r)
		}
	}
	out := make([]Row, 0, len(order))
	for _, l := range order {
		out = append(out, medianRow(by[l]))
	}
	return out
}

// medianRow folds one label's repetitions: every numeric figure is the
// median of rs's (an integer one truncated), the label, sample kind and
// timer exactness are the first's, and the spread is set. By reflection,
// so that a figure added to Row is folded without being listed again.
func medianRow(rs []Row) Row {
	row := rs[0] // what is not a number (label, kinds, notes) is the first repetition's
	dst := reflect.ValueOf(&row).Elem()
	v := make([]float64, len(rs))
	for f := range dst.NumField() {
		field := dst.Field(f)
		if !field.CanSet() {
			continue
		}
		var m float64
		switch field.Kind() {
		case reflect.Int:
			m = median(v, rs, func(r Row) float64 { return float64(reflect.ValueOf(r).Field(f).Int()) })
			field.SetInt(int64(m))
		case reflect.Uint64:
			m = median(v, rs, func(r Row) float64 { return float64(reflect.ValueOf(r).Field(f).Uint()) })
			field.SetUint(uint64(m))
		case reflect.Float64:
			m = median(v, rs, func(r Row) float64 { return reflect.ValueOf(r).Field(f).Float() })
			field.SetFloat(m)
		}
	}
	rel := func(fig func(Row) float64) float64 {
		lo, hi, m := math.Inf(1), math.Inf(-1), median(v, rs, fig)
		for _, r := range rs {
			lo, hi = min(lo, fig(r)), max(hi, fig(r))
		}
		if m == 0 {
			return 0
		}
		return (hi - lo) / m * 100
	}
	row.spread = &spread{reps: len(rs),
		workRate: rel(func(r Row) float64 { return r.WorkRate }),
		wakeP99:  rel(func(r Row) float64 { return float64(r.WakeP99Ns) })}
	return row
}

// median is the median of fig over rs, using buf (len(rs)) as scratch.
func median(buf []float64, rs []Row, fig func(Row) float64) float64 {
	for i, r := range rs {
		buf[i] = fig(r)
	}
	slices.Sort(buf)
	if n := len(buf); n%2 == 0 {
		return (buf[n/2-1] + buf[n/2]) / 2
	}
	return buf[len(buf)/2]
}

// rowPercentiles are the percentile columns of a row, besides min and max.
var rowPercentiles = []float64{50, 90, 99, 99.9}

// Rows computes one row per unit.
func Rows(units []checks.Unit) []Row {
	out := make([]Row, len(units))
	for i, u := range units {
		r := Row{Label: u.Name, Workers: len(u.Reports)}
		var cpu, wall, units float64
		sets := make([][]uint64, 0, len(u.Reports))
		delays := make([]uint64, 0, len(u.Reports))
		timers := make([][]uint64, 0, len(u.Reports))
		for _, rep := range u.Reports {
			if rep.Completed {
				delays = append(delays, rep.SchedstatRunDelayNs)
				r.RunDelayTotalNs += rep.SchedstatRunDelayNs
			}
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
		r.RunDelayP50Ns, _ = stats.Percentile(50, delays)
		r.SchedExt = schedExt(u.Reports)
		r.SampleKind = u.SampleKind()
		r.WakeSamples = stats.Count(sets...)
		if h := u.WakeHist(); h != nil && h.Count() > 0 {
			// Every sample, not the reservoirs' subsample.
			sum := h.Summarize(rowPercentiles)
			r.WakeStats = &sum
			p := h.Percentiles(rowPercentiles)
			r.WakeMinNs, r.WakeP50Ns, r.WakeP90Ns, r.WakeP99Ns, r.WakeP999Ns, r.WakeMaxNs = h.Min(), p[0].Value, p[1].Value, p[2].Value, p[3].Value, h.Max()
			r.WakeMeanNs = h.Mean()
			r.histogram = log2Buckets(sum.Buckets)
		} else if r.WakeSamples > 0 {
			p, _ := stats.Percentiles([]float64{0, 50, 90, 99, 99.9, 100}, sets...)
			r.WakeMinNs, r.WakeP50Ns, r.WakeP90Ns, r.WakeP99Ns, r.WakeP999Ns, r.WakeMaxNs = p[0], p[1], p[2], p[3], p[4], p[5]
			r.WakeMeanNs = stats.Mean(sets...)
			r.histogram = log2Histogram(sets)
		}
		r.TimerSamples = stats.Count(timers...)
		// The merged histograms cover every sample; the reservoirs a subsample.
		if h := workload.TimerHist(u.Reports); h != nil && h.Count() > 0 {
			r.TimerP50Ns, r.TimerP99Ns, r.TimerExact = h.Percentile(50), h.Percentile(99), true
		} else if r.TimerSamples > 0 {
			p, _ := stats.Percentiles([]float64{50, 99}, timers...)
			r.TimerP50Ns, r.TimerP99Ns = p[0], p[1]
		}
		out[i] = r
	}
	return out
}

// schedExt joins the distinct sched_ext classes of rs, in order.
func schedExt(rs []workload.Report) string {
	var seen []string
	for _, r := range rs {
		if r.SchedExt != "" && !slices.Contains(seen, r.SchedExt) {
			seen = append(seen, r.SchedExt)
		}
	}
	return strings.Join(seen, "; ")
}

// log2Histogram counts samples in power-of-two buckets: bucket b holds
// values in [2^b, 2^(b+1)), bucket 0 also holds 0.
func log2Histogram(sets [][]uint64) []uint64 {
	var h [64]uint64
	top := 0
	for _, s := range sets {
		for _, v := range s {
			b := log2Bucket(v)
			h[b]++
			top = max(top, b)
		}
	}
	return h[:top+1]
}

// log2Buckets folds log-linear buckets into log2Histogram's: each
// bucket lies inside one power of two.
func log2Buckets(bs []hist.Bucket) []uint64 {
	var h [64]uint64
	top := 0
	for _, bk := range bs {
		b := log2Bucket(bk.Lo)
		h[b] += bk.Count
		top = max(top, b)
	}
	return h[:top+1]
}

func log2Bucket(v uint64) int {
	if v == 0 {
		return 0
	}
	return 63 - bits.LeadingZeros64(v)
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
	if rows[0].spread != nil {
		width = len("group (medians)")
	}
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.Label))
	}
	// Timer columns only when a row has timer samples, so tables of
	// other work types stay as they were.
	timers := slices.ContainsFunc(rows, func(r Row) bool { return r.TimerSamples > 0 })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	medians := rows[0].spread != nil
	name := "group"
	if medians {
		name = "group (medians)"
	}
	fmt.Fprintf(tw, "%-*s\tworkers\twork/s\tcpu%%\toff-cpu%%\tmigr\tmax gap\trun delay p50/all\tsamples of\tn\tmin\tp50\tp90\tp99\tp99.9\tmax\t", width, name)
	if medians {
		fmt.Fprint(tw, "work/s ±\tp99 ±\treps\t")
	}
	if timers {
		fmt.Fprint(tw, "timer p50\tp99\tn\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%.1f\t%.1f\t%d\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t",
			width, r.Label, r.Workers, si(r.WorkRate), r.CPUPct, r.OffCPUPct, r.Migrations,
			checks.FormatDuration(float64(r.MaxGapMs)*1e6),
			checks.FormatDuration(float64(r.RunDelayP50Ns)), checks.FormatDuration(float64(r.RunDelayTotalNs)),
			kindLabel(r), sampleCount(r),
			lat(r, r.WakeMinNs), lat(r, r.WakeP50Ns), lat(r, r.WakeP90Ns), lat(r, r.WakeP99Ns), lat(r, r.WakeP999Ns), lat(r, r.WakeMaxNs))
		if medians {
			fmt.Fprintf(tw, "%.0f%%\t%.0f%%\t%d\t", r.spread.workRate, r.spread.wakeP99, r.spread.reps)
		}
		if timers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", timerLat(r, r.TimerP50Ns), timerLat(r, r.TimerP99Ns), timerCount(r))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.SchedExt != "" {
			fmt.Fprintf(w, "%s: sched.ext() workers ran in %s\n", r.Label, r.SchedExt)
		}
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

// kindLabel names what the row's latency columns measure.
func kindLabel(r Row) string {
	if r.WakeSamples == 0 || r.SampleKind == "" {
		return "-"
	}
	return string(r.SampleKind)
}

func lat(r Row, v uint64) string {
	if r.WakeSamples == 0 {
		return "-"
	}
	return checks.FormatDuration(float64(v))
}

// sampleCount shows how many samples the figures cover: every one when
// the histograms are there, else the reservoirs' and the total made.
func sampleCount(r Row) string {
	if r.WakeStats != nil || uint64(r.WakeSamples) == r.WakeTotal {
		return fmt.Sprint(r.WakeTotal)
	}
	return fmt.Sprintf("%d/%d", r.WakeSamples, r.WakeTotal)
}

// timerLat shows a timer percentile, or "-" when the row has none.
func timerLat(r Row, v uint64) string {
	if r.TimerSamples == 0 {
		return "-"
	}
	return checks.FormatDuration(float64(v))
}

// timerCount shows how many timer samples the figures cover, as
// sampleCount does for wake samples.
func timerCount(r Row) string {
	if r.TimerExact || uint64(r.TimerSamples) == r.TimerTotal {
		return fmt.Sprint(r.TimerTotal)
	}
	return fmt.Sprintf("%d/%d", r.TimerSamples, r.TimerTotal)
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
	fmt.Fprintf(w, "\n%s samples, %s (%s):\n", r.SampleKind, r.Label, sampleCount(r))
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

// SI shows a figure with an SI suffix and three significant digits, as
// the table does (12.3M).
func SI(v float64) string { return si(v) }
