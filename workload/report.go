package workload

import (
	"fmt"

	"github.com/ktstar/ktstar/hist"
)

// WakePercentiles are the percentiles a report's WakeStats carry.
var WakePercentiles = []float64{50, 90, 99, 99.9}

// wakeNote describes the reservoir for the JSON reader.
func wakeNote(kept int, total uint64) string {
	if total == 0 {
		return ""
	}
	return fmt.Sprintf("a uniform reservoir of %d of the %d samples (wake_sample_total); wake_stats covers all of them", kept, total)
}

// MaxWakeSamples caps each worker's wake-latency reservoir.
const MaxWakeSamples = 100_000

// MaxCostSamples caps each worker's iteration-cost reservoir.
const MaxCostSamples = 100_000

// MaxTimerSamples caps each worker's timer-latency reservoir.
const MaxTimerSamples = 100_000

// TimerPercentiles are the percentiles a report's TimerStats carry.
var TimerPercentiles = []float64{50, 90, 99, 99.9}

// TimerHist merges the TimerStats of reports into one histogram of every
// timer sample, as WakeHist does for wake samples.
func TimerHist(reports []Report) *hist.Hist {
	return mergeStats(reports, func(r *Report) (*hist.Summary, uint64) { return r.TimerStats, r.TimerSampleTotal })
}

// Report is what one worker measured over its run. Field names in JSON are
// ktstr's newest ones, because scripts and JSON consumers read them.
type Report struct {
	Tid int `json:"tid"` // the worker's thread id (its pid)
	// GroupIdx is the composed group the worker belongs to (checks judge
	// each group on its own); 0 until spawns compose groups.
	GroupIdx int `json:"group_idx"`
	// WorkGroup is the worker's group as its work type forms them (a pair,
	// a fan-out, a lock group): its index ÷ the type's group size. In an
	// ungrouped type every worker is a group of one, so it is the index.
	WorkGroup int    `json:"work_group"`
	WorkUnits uint64 `json:"work_units"` // work done, in the work type's unit
	// Iterations counts outer loop iterations.
	Iterations uint64 `json:"iterations"`
	// CPUTimeNs is the worker thread's CPU time since the start gate opened
	// (ns). Unlike ktstr (cumulative since the thread began) it excludes
	// start-up, so off_cpu_ns = wall_time_ns - cpu_time_ns describes the
	// run alone, including any wait to first run after start().
	CPUTimeNs uint64 `json:"cpu_time_ns"`
	// WallTimeNs is monotonic time from the opening of the start gate (the
	// parent's stamp at start()) to loop exit.
	WallTimeNs uint64 `json:"wall_time_ns"`
	OffCPUNs   uint64 `json:"off_cpu_ns"` // wall - cpu, floored at 0

	MigrationCount uint64      `json:"migration_count"` // CPU changes seen at checkpoints
	Migrations     []Migration `json:"migrations"`
	CPUsUsed       []int       `json:"cpus_used"` // CPUs seen at start and at checkpoints

	// MaxGapMs is the longest interval between checkpoints, counting the
	// start gate's opening and the loop's exit as checkpoints: a worker
	// that never ran before the stop has one gap, the whole run.
	MaxGapMs   uint64 `json:"max_gap_ms"`
	MaxGapCPU  int    `json:"max_gap_cpu"`   // CPU at the checkpoint before that interval
	MaxGapAtMs uint64 `json:"max_gap_at_ms"` // when that interval ended, ms since the start gate opened

	// WakeLatenciesNs is a uniform reservoir sample (at most MaxWakeSamples)
	// of the durations of the work type's timed blocking calls; WakeStats
	// covers every sample.
	WakeLatenciesNs []uint64 `json:"wake_latencies_ns"`
	WakeSampleTotal uint64   `json:"wake_sample_total"` // observations, including dropped ones
	// WakeLatenciesNote says in the JSON what wake_latencies_ns holds.
	WakeLatenciesNote string `json:"wake_latencies_note,omitempty"`
	// WakeStats are exact aggregates over every wake sample (count, min,
	// max, sum), percentiles and the log-linear histogram's non-empty
	// buckets (hist.Nanoseconds: relative error at most 1/512); nil when the
	// type records no samples.
	WakeStats *hist.Summary `json:"wake_stats"`
	// SampleKind says what each wake sample measures; "" when there are none.
	SampleKind SampleKind `json:"sample_kind,omitempty"`

	// IterationCostsNs is a uniform reservoir sample (at most
	// MaxCostSamples) of the durations of complete compute iterations;
	// only AluHot, SmtSiblingSpin and IpcVariance fill it.
	IterationCostsNs         []uint64 `json:"iteration_costs_ns"`
	IterationCostSampleTotal uint64   `json:"iteration_cost_sample_total"` // observations, including dropped ones

	// TimerLatenciesNs is a uniform reservoir sample (at most
	// MaxTimerSamples) of how late each absolute-deadline timer wake came
	// (observed wake minus deadline); only TimerLatency fills it.
	TimerLatenciesNs []uint64 `json:"timer_latencies_ns"`
	TimerSampleTotal uint64   `json:"timer_sample_total"` // observations, including dropped ones
	// TimerStats are exact aggregates over every timer sample (count, min,
	// max, sum), percentiles and the log-linear histogram's non-empty
	// buckets (hist.Nanoseconds: relative error at most 1/512); nil when
	// the type records none.
	TimerStats *hist.Summary `json:"timer_stats"`

	SchedstatCPUTimeNs  uint64 `json:"schedstat_cpu_time_ns"`  // Δ schedstat field 1
	SchedstatRunDelayNs uint64 `json:"schedstat_run_delay_ns"` // Δ schedstat field 2 (runnable, waiting)
	SchedstatRunCount   uint64 `json:"schedstat_run_count"`    // Δ schedstat field 3 (times scheduled in)

	NumaPages               map[int]uint64 `json:"numa_pages"`                 // resident pages per node at loop end
	VmstatNumaPagesMigrated uint64         `json:"vmstat_numa_pages_migrated"` // Δ of the system-wide counter

	// Completed is true on every report a live worker produced, false on sentinels.
	Completed bool      `json:"completed"`
	ExitInfo  *ExitInfo `json:"exit_info"` // why a sentinel has no real report; nil otherwise

	IsMessenger   bool   `json:"is_messenger"`             // position 0 of a fan-out group
	AffinityError string `json:"affinity_error,omitempty"` // error applying the spawn-time mask
	// Cgroup is the worker's cgroup v2 path (/proc/self/cgroup, "0::"
	// line) read after the start gate opened, just before its loop.
	Cgroup string `json:"cgroup,omitempty"`

	// LoopAllocs counts heap objects the worker process allocated while its
	// loop ran. Bodies must not allocate, so anything but 0 is a defect
	// (growth of the migration list aside) that would perturb measurements.
	LoopAllocs uint64 `json:"loop_allocs"`
	// LoopNewThreads counts OS threads the Go runtime added while the loop
	// ran (a thread team's hand-offs can need one); each allocates, so
	// LoopAllocs is the body's only when this is 0.
	LoopNewThreads uint64 `json:"loop_new_threads,omitempty"`

	// Counters holds work-type-specific counts (bytes written, children reaped, …).
	Counters map[string]uint64 `json:"counters,omitempty"`
	// Saturated names the counts (work_units, iterations, a counter) that
	// reached CounterMax and stopped there rather than wrap.
	Saturated []string `json:"saturated,omitempty"`
	// Extra holds the non-integer fields a Custom work function returned;
	// a NaN or infinite float is kept as the string "NaN", "+Inf" or
	// "-Inf", which JSON can carry.
	Extra map[string]any `json:"extra,omitempty"`

	// Schbench and Taobench are those types' measurements; nil otherwise.
	Schbench *SchbenchReport `json:"schbench,omitempty"`
	Taobench *TaobenchReport `json:"taobench,omitempty"`

	// PhaseSlices are the worker's figures per step of a scenario, for
	// the handles whose epoch word a scenario writes (its backdrop's):
	// one slice per step, in order (runtime.md §5.5), empty for a step
	// the worker did not run in. Empty otherwise. Last, as in ktstr's
	// JSON.
	PhaseSlices []PhaseSlice `json:"phase_slices,omitempty"`
}

// Migration is one CPU change observed at a checkpoint.
type Migration struct {
	AtNs    uint64 `json:"at_ns"` // ns since the start gate opened
	FromCPU int    `json:"from_cpu"`
	ToCPU   int    `json:"to_cpu"`
}

// ExitKind classifies why a worker produced no report.
type ExitKind string

// Exit kinds of a sentinel report.
const (
	ExitExited     ExitKind = "exited"      // exited normally without a decodable report
	ExitSignaled   ExitKind = "signaled"    // killed by a signal
	ExitTimedOut   ExitKind = "timed_out"   // still alive after the collection deadline
	ExitWaitFailed ExitKind = "wait_failed" // waitpid itself failed
	ExitFailed     ExitKind = "failed"      // the work function returned an error (Custom)
)

// ExitInfo explains a sentinel report.
type ExitInfo struct {
	Kind   ExitKind `json:"kind"`
	Code   int      `json:"code,omitempty"`   // exited
	Signal int      `json:"signal,omitempty"` // signaled
	Error  string   `json:"error,omitempty"`  // wait_failed or failed, or what the worker said before dying
	// FromOutside marks a signaled worker that ktstar did not kill: its
	// data is lost and the run fails (exit status 1).
	FromOutside bool `json:"from_outside,omitempty"`
}

// Foreign reports whether a signal from outside ktstar killed the worker.
func (e *ExitInfo) Foreign() bool { return e != nil && e.FromOutside }

// sentinel builds the report that stands in for a worker that sent none.
func sentinel(tid, group int, info *ExitInfo) Report {
	return Report{Tid: tid, WorkGroup: group, ExitInfo: info, NumaPages: map[int]uint64{}}
}

// WakeHist merges the WakeStats of reports into one histogram of every
// wake sample. It returns nil when a report that has samples lacks them
// (a result written before they existed): the caller then falls back to
// the reservoirs.
func WakeHist(reports []Report) *hist.Hist {
	return mergeStats(reports, func(r *Report) (*hist.Summary, uint64) { return r.WakeStats, r.WakeSampleTotal })
}

// mergeStats merges one kind of exact aggregates (of picks the summary
// and the sample total) over reports; nil when a report with samples has
// no summary.
func mergeStats(reports []Report, of func(*Report) (*hist.Summary, uint64)) *hist.Hist {
	h := hist.MustNew(hist.Nanoseconds)
	for i := range reports {
		s, total := of(&reports[i])
		if s == nil {
			if total > 0 {
				return nil
			}
			continue
		}
		rh, err := hist.FromSummary(*s)
		if err != nil || h.Merge(rh) != nil {
			return nil
		}
	}
	return h
}
