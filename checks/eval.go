package checks

import (
	"fmt"
	"math"
	"slices"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/stats"
	"github.com/ktstar/ktstar/workload"
)

func (u *Unit) worker(r *workload.Report) *Worker {
	return &Worker{Tid: r.Tid, Group: r.GroupIdx, Cgroup: u.Cgroup}
}

// verdict is Fail when bad, else Pass.
func verdict(bad bool) Status {
	if bad {
		return Fail
	}
	return Pass
}

func skip(why string) Outcome { return Outcome{Status: Skip, Detail: why} }

func evalStarved(u *Unit, _ float64) Outcome {
	var worst *workload.Report
	n := 0
	for i := range u.Reports {
		if r := &u.Reports[i]; r.WorkUnits == 0 {
			if worst == nil {
				worst = r
			}
			n++
		}
	}
	o := Outcome{Status: verdict(n > 0), Observed: float64(n), Detail: fmt.Sprintf("%d of %d workers did no work", n, len(u.Reports))}
	if worst != nil {
		o.Worst = u.worker(worst)
		if e := worst.ExitInfo; e != nil {
			o.Detail += fmt.Sprintf(" (first: exit_info %s)", describeExit(e))
		}
	}
	return o
}

func describeExit(e *workload.ExitInfo) string {
	switch e.Kind {
	case workload.ExitSignaled:
		return fmt.Sprintf("signaled %d", e.Signal)
	case workload.ExitExited:
		return fmt.Sprintf("exited %d", e.Code)
	}
	return string(e.Kind)
}

func offPct(r *workload.Report) float64 {
	return float64(r.OffCPUNs) / float64(r.WallTimeNs) * 100
}

func evalSpread(u *Unit, limit float64) Outcome {
	var lo, hi *workload.Report
	n := 0
	for i := range u.Reports {
		r := &u.Reports[i]
		if r.WallTimeNs == 0 {
			continue
		}
		n++
		if lo == nil || offPct(r) < offPct(lo) {
			lo = r
		}
		if hi == nil || offPct(r) > offPct(hi) {
			hi = r
		}
	}
	if n < 2 {
		return skip("fewer than 2 workers with wall time")
	}
	spread := offPct(hi) - offPct(lo)
	return Outcome{
		Status: verdict(spread > limit), Observed: spread, Worst: u.worker(hi),
		Detail: fmt.Sprintf("off-CPU %.1f%%..%.1f%% over %d workers on %d CPUs", offPct(lo), offPct(hi), n, cpusUsed(u.Reports)),
	}
}

func cpusUsed(rs []workload.Report) int {
	var all []int
	for _, r := range rs {
		all = append(all, r.CPUsUsed...)
	}
	slices.Sort(all)
	return len(slices.Compact(all))
}

func evalGap(u *Unit, limit float64) Outcome {
	if len(u.Reports) == 0 {
		return skip("no workers")
	}
	worst := &u.Reports[0]
	for i := range u.Reports {
		if u.Reports[i].MaxGapMs > worst.MaxGapMs {
			worst = &u.Reports[i]
		}
	}
	return Outcome{
		Status: verdict(float64(worst.MaxGapMs) > limit), Observed: float64(worst.MaxGapMs), Worst: u.worker(worst),
		Detail: fmt.Sprintf("on cpu %d at +%d ms", worst.MaxGapCPU, worst.MaxGapAtMs),
	}
}

func evalIsolation(u *Unit, _ float64) Outcome {
	if u.Cpuset == nil {
		return skip("no cpuset recorded for this unit")
	}
	var worst *workload.Report
	var stray []int
	n := 0
	for i := range u.Reports {
		r := &u.Reports[i]
		var out []int
		for _, c := range r.CPUsUsed {
			if !slices.Contains(u.Cpuset, c) {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			n++
			if worst == nil {
				worst, stray = r, out
			}
		}
	}
	o := Outcome{Status: verdict(n > 0), Observed: float64(n)}
	if worst != nil {
		o.Worst = u.worker(worst)
		o.Detail = fmt.Sprintf("ran on unexpected CPUs %s (cpuset %s)", workload.FormatCPUList(stray), workload.FormatCPUList(u.Cpuset))
	}
	return o
}

// workRate is work units per CPU-second (0 without CPU time).
func workRate(r *workload.Report) float64 {
	if r.CPUTimeNs == 0 {
		return 0
	}
	return float64(r.WorkUnits) / (float64(r.CPUTimeNs) / 1e9)
}

func evalThroughputCV(u *Unit, limit float64) Outcome {
	if len(u.Reports) < 2 {
		return skip("fewer than 2 workers")
	}
	var mean float64
	for i := range u.Reports {
		mean += workRate(&u.Reports[i])
	}
	mean /= float64(len(u.Reports))
	if mean == 0 {
		return skip("no worker used CPU time")
	}
	var ss float64
	worst := &u.Reports[0]
	for i := range u.Reports {
		r := &u.Reports[i]
		d := workRate(r) - mean
		ss += d * d
		if math.Abs(d) > math.Abs(workRate(worst)-mean) {
			worst = r
		}
	}
	cv := math.Sqrt(ss/float64(len(u.Reports))) / mean
	return Outcome{Status: verdict(cv > limit), Observed: cv, Worst: u.worker(worst), Detail: fmt.Sprintf("mean %.4g work/cpu-s", mean)}
}

// lowest returns the report with the smallest value of f among those ok accepts.
func lowest(rs []workload.Report, ok func(*workload.Report) bool, f func(*workload.Report) float64) *workload.Report {
	var worst *workload.Report
	for i := range rs {
		if r := &rs[i]; ok(r) && (worst == nil || f(r) < f(worst)) {
			worst = r
		}
	}
	return worst
}

func evalWorkRate(u *Unit, limit float64) Outcome {
	worst := lowest(u.Reports, func(*workload.Report) bool { return true }, workRate)
	if worst == nil {
		return skip("no workers")
	}
	return Outcome{Status: verdict(workRate(worst) < limit), Observed: workRate(worst), Worst: u.worker(worst)}
}

// sampleSource is one kind of latency sample of a report: its reservoir,
// and the merge of the reports' exact histograms (nil when the kind has
// none yet).
type sampleSource struct {
	what      string // names the kind in messages: "wake", "timer"
	reservoir func(*workload.Report) []uint64
	merged    func([]workload.Report) *hist.Hist
	kind      func(*Unit) string // what each sample measures (workload.SampleKind)
}

var (
	wakeSource = sampleSource{
		what:      "wake",
		reservoir: func(r *workload.Report) []uint64 { return r.WakeLatenciesNs },
		merged:    workload.WakeHist,
		kind:      (*Unit).SampleKind,
	}
	// A timer sample is how late an absolute deadline woke: an oversleep.
	timerSource = sampleSource{
		what:      "timer",
		reservoir: func(r *workload.Report) []uint64 { return r.TimerLatenciesNs },
		merged:    workload.TimerHist,
		kind:      func(*Unit) string { return string(workload.SampleOversleep) },
	}
)

func samplesOf(rs []workload.Report, of func(*workload.Report) []uint64) [][]uint64 {
	out := make([][]uint64, 0, len(rs))
	for i := range rs {
		out = append(out, of(&rs[i]))
	}
	return out
}

// SampleKind is the kind of the unit's wake samples (workload.SampleKind):
// the workers' common kind, "mixed" when theirs differ, "" when none has
// samples.
func (u *Unit) SampleKind() string {
	ks := make([]workload.SampleKind, len(u.Reports))
	for i, r := range u.Reports {
		ks[i] = r.SampleKind
	}
	return string(workload.JoinKinds(ks...))
}

// WakeHist merges the histograms of every wake sample of the unit's
// workers; nil when a report with samples lacks one (an old result).
func (u *Unit) WakeHist() *hist.Hist { return workload.WakeHist(u.Reports) }

// p99 returns the 99th percentile of every sample of rs and how many there
// are: from the merged histograms when every report has them, which cover
// every sample, else from the reservoirs, which hold a subsample.
func (src sampleSource) p99(rs []workload.Report) (uint64, int) {
	if src.merged != nil {
		if h := src.merged(rs); h != nil && h.Count() > 0 {
			return h.Percentile(99), int(h.Count())
		}
	}
	all := samplesOf(rs, src.reservoir)
	p, _ := stats.Percentile(99, all...)
	return p, stats.Count(all...)
}

// evalP99Of builds the p99 check over one kind of sample.
func evalP99Of(src sampleSource) func(u *Unit, limit float64) Outcome {
	return func(u *Unit, limit float64) Outcome {
		p99, n := src.p99(u.Reports)
		if n == 0 {
			return skip("no " + src.what + " samples")
		}
		var worst *workload.Report
		var worstP99 uint64
		for i := range u.Reports {
			r := &u.Reports[i]
			if v, k := src.p99(u.Reports[i : i+1]); k > 0 && (worst == nil || v > worstP99) {
				worst, worstP99 = r, v
			}
		}
		return Outcome{
			Status: verdict(float64(p99) > limit), Observed: float64(p99), Samples: n, SampleKind: src.kind(u), Worst: u.worker(worst),
			Detail: fmt.Sprintf("the worst worker's own p99 is %s", FormatDuration(float64(worstP99))),
		}
	}
}

func evalWakeCV(u *Unit, limit float64) Outcome {
	all := samplesOf(u.Reports, wakeSource.reservoir)
	cv := stats.CV(all...)
	if math.IsNaN(cv) {
		return skip("fewer than 2 wake samples, or all zero")
	}
	var worst *workload.Report
	worstCV := math.Inf(-1)
	for i := range u.Reports {
		if v := stats.CV(u.Reports[i].WakeLatenciesNs); !math.IsNaN(v) && v > worstCV {
			worst, worstCV = &u.Reports[i], v
		}
	}
	o := Outcome{Status: verdict(cv > limit), Observed: cv, Samples: stats.Count(all...), SampleKind: u.SampleKind()}
	if worst != nil {
		o.Worst = u.worker(worst)
	}
	return o
}

func iterationRate(r *workload.Report) float64 {
	return float64(r.Iterations) / (float64(r.WallTimeNs) / 1e9)
}

func evalIterationRate(u *Unit, limit float64) Outcome {
	worst := lowest(u.Reports, func(r *workload.Report) bool { return r.WallTimeNs > 0 }, iterationRate)
	if worst == nil {
		return skip("no worker with wall time")
	}
	return Outcome{Status: verdict(iterationRate(worst) < limit), Observed: iterationRate(worst), Worst: u.worker(worst)}
}

func evalMigrationRatio(u *Unit, limit float64) Outcome {
	var mig, iter uint64
	var worst *workload.Report
	ratio := func(r *workload.Report) float64 { return float64(r.MigrationCount) / float64(r.Iterations) }
	for i := range u.Reports {
		r := &u.Reports[i]
		mig += r.MigrationCount
		iter += r.Iterations
		if r.Iterations > 0 && (worst == nil || ratio(r) > ratio(worst)) {
			worst = r
		}
	}
	if iter == 0 {
		return Outcome{Status: Inconclusive, Detail: "no iterations: the ratio cannot be computed"}
	}
	v := float64(mig) / float64(iter)
	return Outcome{Status: verdict(v > limit), Observed: v, Worst: u.worker(worst), Detail: fmt.Sprintf("%d migrations / %d iterations", mig, iter)}
}

// pages splits a report's resident pages into those on the unit's nodes
// and the rest.
func (u *Unit) pages(r *workload.Report) (local, total uint64) {
	for node, n := range r.NumaPages {
		total += n
		if slices.Contains(u.NumaNodes, node) {
			local += n
		}
	}
	return local, total
}

func evalLocality(u *Unit, limit float64) Outcome {
	if u.NumaNodes == nil {
		return skip("no cpuset NUMA nodes recorded for this unit")
	}
	var local, total uint64
	var worst *workload.Report
	share := func(r *workload.Report) float64 {
		l, t := u.pages(r)
		if t == 0 {
			return 0
		}
		return float64(l) / float64(t)
	}
	for i := range u.Reports {
		r := &u.Reports[i]
		l, t := u.pages(r)
		local, total = local+l, total+t
		if worst == nil || share(r) < share(worst) {
			worst = r
		}
	}
	v := 0.0 // pages were expected and none were seen: that fails
	if total > 0 {
		v = float64(local) / float64(total)
	}
	o := Outcome{Status: verdict(v < limit), Observed: v, Detail: fmt.Sprintf("%d/%d pages local", local, total)}
	if worst != nil {
		o.Worst = u.worker(worst)
	}
	return o
}

func evalCrossNode(u *Unit, limit float64) Outcome {
	if len(u.Reports) == 0 {
		return skip("no workers")
	}
	var total uint64
	worst := &u.Reports[0]
	for i := range u.Reports {
		r := &u.Reports[i]
		_, t := u.pages(r)
		total += t
		if r.VmstatNumaPagesMigrated > worst.VmstatNumaPagesMigrated {
			worst = r
		}
	}
	// The vmstat counter is system-wide, so the largest delta, not the sum.
	migrated := worst.VmstatNumaPagesMigrated
	v := 0.0
	if total > 0 {
		v = float64(migrated) / float64(total)
	}
	return Outcome{Status: verdict(v > limit), Observed: v, Worst: u.worker(worst), Detail: fmt.Sprintf("%d/%d pages migrated", migrated, total)}
}

func evalSlowTier(u *Unit, limit float64) Outcome {
	if u.NumaNodes == nil {
		return skip("no cpuset NUMA nodes recorded for this unit")
	}
	var worst *workload.Report
	worstV := -1.0
	var slowAll, totalAll uint64
	for i := range u.Reports {
		r := &u.Reports[i]
		l, t := u.pages(r)
		if t == 0 {
			continue
		}
		slowAll, totalAll = slowAll+t-l, totalAll+t
		if v := float64(t-l) / float64(t); v > worstV {
			worst, worstV = r, v
		}
	}
	if worst == nil {
		return Outcome{Status: Inconclusive, Detail: "no worker had resident pages: the ratio cannot be computed"}
	}
	return Outcome{Status: verdict(worstV > limit), Observed: worstV, Worst: u.worker(worst), Detail: fmt.Sprintf("%d/%d pages on non-CPU nodes over all workers", slowAll, totalAll)}
}
