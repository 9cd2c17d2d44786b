package compare

import (
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/summary"
	"github.com/ktstar/ktstar/workload"
)

// Metric is one figure compared group by group. Its Name is what
// --max-regress and the JSON call it.
type Metric struct {
	Name string
	Doc  string // what it is, for help and tables
	// Time is true for figures in nanoseconds: they print as durations
	// and their absolute gates take durations.
	Time bool
	// Lower is true when a smaller value is better (latencies, gaps).
	Lower bool
	// group returns the figure of one unit of one repetition.
	group func(u unitView) (float64, bool)
	// worker returns the figure of one worker.
	worker func(rep workload.Report, s result.SampleStats) (float64, bool)
}

// unitView is what one unit of one repetition offers its metrics: the
// summary row the run wrote, the reports and their sample summaries.
type unitView struct {
	row     summary.Row
	reports []workload.Report
	samples []result.SampleStats
}

// Metrics lists every figure compare joins, in the order it prints them.
var Metrics = []Metric{
	{Name: "work_rate", Doc: "work units/s", group: func(u unitView) (float64, bool) { return u.row.WorkRate, true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return rate(r.WorkUnits, r.WallTimeNs) }},
	{Name: "iter_rate", Doc: "iterations/s", group: func(u unitView) (float64, bool) {
		var its, wall float64
		for _, r := range u.reports {
			its += float64(r.Iterations)
			wall += float64(r.WallTimeNs)
		}
		return perMeanWall(its, wall, len(u.reports))
	}, worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return rate(r.Iterations, r.WallTimeNs) }},
	{Name: "cpu_pct", Doc: "cpu %", group: func(u unitView) (float64, bool) { return u.row.CPUPct, true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return pct(r.CPUTimeNs, r.WallTimeNs) }},
	{Name: "off_cpu_pct", Doc: "off-cpu %", Lower: true, group: func(u unitView) (float64, bool) { return u.row.OffCPUPct, true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return pct(r.OffCPUNs, r.WallTimeNs) }},
	{Name: "migrations", Doc: "CPU migrations", Lower: true, group: func(u unitView) (float64, bool) { return float64(u.row.Migrations), true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return float64(r.MigrationCount), true }},
	{Name: "max_gap", Doc: "longest gap between checkpoints", Time: true, Lower: true,
		group:  func(u unitView) (float64, bool) { return float64(u.row.MaxGapMs) * 1e6, true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) { return float64(r.MaxGapMs) * 1e6, true }},
	{Name: "run_delay_pct", Doc: "time runnable but waiting for a CPU, % of wall (schedstat)", Lower: true, group: func(u unitView) (float64, bool) {
		var delay, wall uint64
		for _, r := range u.reports {
			delay += r.SchedstatRunDelayNs
			wall += r.WallTimeNs
		}
		return pct(delay, wall)
	}, worker: func(r workload.Report, _ result.SampleStats) (float64, bool) {
		return pct(r.SchedstatRunDelayNs, r.WallTimeNs)
	}},
	{Name: "run_delay_p50", Doc: "median over workers of each one's run delay (schedstat)", Time: true, Lower: true,
		group: func(u unitView) (float64, bool) { return float64(u.row.RunDelayP50Ns), true },
		worker: func(r workload.Report, _ result.SampleStats) (float64, bool) {
			return float64(r.SchedstatRunDelayNs), true
		}},
	latency("p50", "wake latency p50", func(r summary.Row) uint64 { return r.WakeP50Ns }, func(s result.SampleStats) uint64 { return s.P50 }),
	latency("p90", "wake latency p90", func(r summary.Row) uint64 { return r.WakeP90Ns }, func(s result.SampleStats) uint64 { return s.P90 }),
	latency("p99", "wake latency p99", func(r summary.Row) uint64 { return r.WakeP99Ns }, func(s result.SampleStats) uint64 { return s.P99 }),
	latency("p999", "wake latency p99.9", func(r summary.Row) uint64 { return r.WakeP999Ns }, func(s result.SampleStats) uint64 { return s.P999 }),
	// The exact maximum over every sample when the reports carry it
	// (wake_stats), else the reservoir's.
	{Name: "max", Doc: "wake latency max", Time: true, Lower: true, group: func(u unitView) (float64, bool) {
		if u.row.WakeStats != nil {
			return float64(u.row.WakeMaxNs), u.row.WakeStats.Count > 0
		}
		var m uint64
		n := 0
		for _, s := range u.samples {
			m = max(m, s.Max)
			n += int(s.N)
		}
		return float64(m), n > 0
	}, worker: func(r workload.Report, s result.SampleStats) (float64, bool) {
		if r.WakeStats != nil {
			return float64(r.WakeStats.Max), r.WakeStats.Count > 0
		}
		return float64(s.Max), s.N > 0
	}},
}

// latency is a wake-latency percentile: the group's from its summary row
// (over every sample of the unit), a worker's from its own samples.
func latency(name, doc string, row func(summary.Row) uint64, worker func(result.SampleStats) uint64) Metric {
	return Metric{Name: name, Doc: doc, Time: true, Lower: true,
		group:  func(u unitView) (float64, bool) { return float64(row(u.row)), u.row.WakeSamples > 0 },
		worker: func(_ workload.Report, s result.SampleStats) (float64, bool) { return float64(worker(s)), s.N > 0 }}
}

// MetricByName returns the metric called name.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

func rate(n, wallNs uint64) (float64, bool) {
	if wallNs == 0 {
		return 0, false
	}
	return float64(n) / (float64(wallNs) / 1e9), true
}

func pct(part, whole uint64) (float64, bool) {
	if whole == 0 {
		return 0, false
	}
	return float64(part) / float64(whole) * 100, true
}

// perMeanWall is a group's rate: the total over the mean wall time, as
// summary.Rows computes the work rate.
func perMeanWall(total, wallNs float64, workers int) (float64, bool) {
	if wallNs == 0 || workers == 0 {
		return 0, false
	}
	return total / (wallNs / float64(workers) / 1e9), true
}
