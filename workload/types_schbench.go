package workload

import (
	"fmt"

	"github.com/ktstar/ktstar/hist"
)

// Upper bounds of Schbench's parameters (its thread counts are bounded by
// maxTeamThreads). Upstream bounds only the pipe size (1 MiB) and the
// split (0..100); the others keep a buffer or a wait within what one
// worker process can hold and stop.
const (
	sbMaxPipe      = 1 << 20
	sbMaxFootprint = 1 << 20 // KiB per worker thread: 1 GiB
	sbMaxSleepUsec = 1_000_000
	sbMaxRPS       = 100_000_000
	sbMaxSecs      = 86_400
)

// schbenchTypes is masoncl/schbench inside one worker process (spec
// schbench-taobench.md part A): message threads, their worker threads, the
// futex handshake, the per-CPU lock and the matrix work, with upstream's
// log-linear histograms. Use it with workers = 1; each worker is one whole
// schbench.
var schbenchTypes = []Type{
	{
		Name: "Schbench", Ctor: "schbench",
		Doc:         "masoncl/schbench in one worker: message threads wake worker threads that sleep, take a per-CPU lock and multiply matrices; reports wakeup and request latency histograms and RPS (use workers = 1).",
		NotAsThread: teamNotAsThread,
		Params: []Param{
			teamThreadsParam("message_threads", 1, 1, "message threads (-m)"),
			teamThreadsParam("worker_threads", 0, 0, "worker threads per message thread (-t); 0 = ceil(allowed CPUs / message_threads), as upstream with online CPUs"),
			{Name: "cache_footprint_kib", Kind: KindInt, Default: int64(256), Min: 0, Max: sbMaxFootprint, Doc: "KiB of matrices per worker (-F): three n×n uint64 matrices, n = floor(sqrt(KiB·1024/24))"},
			{Name: "operations", Kind: KindInt, Default: int64(5), Min: 0, Max: 1_000_000, Doc: "matrix products per request (-n)"},
			{Name: "sleep_usec", Kind: KindInt, Default: int64(100), Min: 0, Max: sbMaxSleepUsec, Doc: "think sleep per request in µs (-s); 0 = none"},
			{Name: "skip_locking", Kind: KindBool, Default: false, Doc: "do not take the per-CPU lock around the matrix work (-L)"},
			{Name: "calibrate", Kind: KindBool, Default: false, Doc: "leave the sleep out of request latency; implies skip_locking (-C)"},
			{Name: "requests_per_sec", Kind: KindInt, Default: int64(0), Min: 0, Max: sbMaxRPS, Doc: "fixed request rate, total over message threads (-R); 0 = saturating default mode"},
			{Name: "auto_rps", Kind: KindInt, Default: int64(0), Min: 0, Max: 100, Doc: "target CPU busy % that the rate is scaled to each second (-A); implies RPS mode from 10 requests/s"},
			{Name: "pipe_bytes", Kind: KindInt, Default: int64(0), Min: 0, Max: sbMaxPipe, Doc: "pipe mode: bytes each side writes per transfer (-p); 0 = off"},
			{Name: "split_percent", Kind: KindInt, Default: int64(100), Min: 0, Max: 100, Doc: "% of the footprint private per worker, the rest one shared buffer (--split); 100 = all private, upstream's default"},
			{Name: "warmup_secs", Kind: KindInt, Default: int64(0), Min: 0, Max: sbMaxSecs, Doc: "seconds after which all statistics are cleared once (-w); ignored in RPS and pipe modes"},
			{Name: "interval_secs", Kind: KindInt, Default: int64(0), Min: 0, Max: sbMaxSecs, Doc: "seconds between interim lines kept in the report (-i); 0 = none (each line allocates a little, in the main thread)"},
			{Name: "zero_secs", Kind: KindInt, Default: int64(0), Min: 0, Max: sbMaxSecs, Doc: "clear statistics every N seconds (-z); 0 = never"},
			{Name: "message_cpus", Kind: KindInts, Default: []int64{}, Min: 0, Max: 1023, Doc: "CPUs message thread i is pinned to, round-robin (-M); [] = the worker's affinity"},
			{Name: "worker_cpus", Kind: KindInts, Default: []int64{}, Min: 0, Max: 1023, Doc: "CPUs worker threads may run on (-W); [] = the worker's affinity"},
		},
		Example: map[string]any{"cache_footprint_kib": 16, "operations": 1, "sleep_usec": 10},
		Validate: func(w Work) error {
			if w.Int("pipe_bytes") > 0 && (w.Int("requests_per_sec") > 0 || w.Int("auto_rps") > 0) {
				return fmt.Errorf("pipe_bytes = %d needs requests_per_sec = 0 and auto_rps = 0 (pipe mode uses the default handshake)", w.Int("pipe_bytes"))
			}
			return nil
		},
		StandIn: func(w Work, r *Report) {
			h := hist.MustNew(hist.Schbench)
			h.Record(1)
			one := schbenchHist(h)
			r.Schbench = &SchbenchReport{Mode: "saturate", MessageThreads: int(w.Int("message_threads")), WorkerThreads: max(int(w.Int("worker_threads")), 1),
				Wakeup: one, Request: one, RPS: one, Requests: 1, ElapsedS: 1, AverageRPS: 1}
		},
		New: newSchbench,
	},
}

// SchbenchReport is what one Schbench worker measured (Report.Schbench).
// Latencies are µs and RPS requests per second, in upstream's histograms
// (package hist, layout hist.Schbench), merged over all worker threads
// when the run ends.
type SchbenchReport struct {
	Mode           string `json:"mode"` // "saturate", "rps", "auto_rps" or "pipe"
	MessageThreads int    `json:"message_threads"`
	WorkerThreads  int    `json:"worker_threads"` // per message thread, after the 0 default
	// Wakeup: from the waker's timestamp to the worker running (> 0 µs
	// only). In RPS modes wakes seen after stop are left out (spec A.15).
	Wakeup SchbenchHist `json:"wakeup"`
	// Request: one request's sleep, lock and matrix work (> 0 µs only).
	Request SchbenchHist `json:"request"`
	// RPS: one sample per second of completed requests per second. No
	// sample at t = 0 (upstream's first is a meaningless 0); a final one
	// when at least half a second has passed since the last.
	RPS SchbenchHist `json:"rps"`
	// Requests is the sum of the worker threads' loop counters.
	Requests uint64 `json:"requests"`
	// LockContended counts requests that found their CPU's lock held and
	// spun for it. Between threads confined to one CPU that can only be a
	// holder preempted with the lock, the cost upstream builds in.
	LockContended uint64 `json:"lock_contended"`
	// RPS modes: requests the message threads queued, and those they
	// dropped because the worker already had more than 128 pending.
	Issued  uint64 `json:"issued,omitempty"`
	Skipped uint64 `json:"skipped,omitempty"`
	// ElapsedS is the measured time from the start gate to stop; upstream
	// divides by the configured runtime instead.
	ElapsedS   float64 `json:"elapsed_s"`
	AverageRPS float64 `json:"average_rps"` // Requests / ElapsedS
	RPSGoal    uint64  `json:"rps_goal,omitempty"`
	// Mean run-queue delay per scheduling event, µs, per role: each
	// thread reads its own schedstat just before it exits (upstream reads
	// after exit and prints 0).
	SchedDelayMsgUs    float64            `json:"sched_delay_msg_us"`
	SchedDelayWorkerUs float64            `json:"sched_delay_worker_us"`
	Pipe               *SchbenchPipe      `json:"pipe,omitempty"`
	Intervals          []SchbenchInterval `json:"intervals,omitempty"`
}

// SchbenchHist is one histogram with its percentiles (upstream's
// 20/50/90/99/99.9 walk), exact count/min/max/sum and non-empty buckets.
type SchbenchHist struct {
	Count uint64 `json:"count"`
	Min   uint64 `json:"min"`
	Max   uint64 `json:"max"`
	Sum   uint64 `json:"sum"`
	P20   uint64 `json:"p20"`
	P50   uint64 `json:"p50"`
	P90   uint64 `json:"p90"`
	P99   uint64 `json:"p99"`
	P999  uint64 `json:"p999"`
	// Percentiles repeats the five picks with schbench's "(k samples)".
	Percentiles []hist.Pick   `json:"percentiles"`
	Buckets     []hist.Bucket `json:"buckets"`
}

// schbenchHist summarises h for the report.
func schbenchHist(h *hist.Hist) SchbenchHist {
	s := h.Summarize(hist.SchbenchPercentiles)
	out := SchbenchHist{Count: s.Count, Min: s.Min, Max: s.Max, Sum: s.Sum, Percentiles: s.Percentiles, Buckets: s.Buckets}
	out.P20, out.P50, out.P90, out.P99, out.P999 = s.Percentiles[0].Value, s.Percentiles[1].Value, s.Percentiles[2].Value, s.Percentiles[3].Value, s.Percentiles[4].Value
	if out.Buckets == nil {
		out.Buckets = []hist.Bucket{}
	}
	return out
}

// Hist rebuilds the histogram from the report's buckets, to merge runs.
func (s SchbenchHist) Hist() (*hist.Hist, error) {
	return hist.FromSummary(hist.Summary{Groups: hist.Schbench.Groups, Count: s.Count, Min: s.Min, Max: s.Max, Sum: s.Sum, Buckets: s.Buckets})
}

// SchbenchPipe is pipe mode's transfer account.
type SchbenchPipe struct {
	TransferBytes uint64 `json:"transfer_bytes"` // pipe_bytes
	WorkerWrites  uint64 `json:"worker_writes"`  // pages a worker filled before queueing
	MessageWrites uint64 `json:"message_writes"` // pages a message thread filled before a post
	Bytes         uint64 `json:"bytes"`          // bytes written by both sides
	// OpsPerSec is upstream's "avg worker transfer": requests × 10⁶ over
	// the sum of the workers' runtimes in µs (a per-worker figure).
	OpsPerSec   float64 `json:"ops_per_sec"`
	BytesPerSec float64 `json:"bytes_per_sec"` // OpsPerSec × TransferBytes
}

// SchbenchInterval is one interim report (interval_secs): the histograms
// are cumulative since the last clear, as upstream prints them.
type SchbenchInterval struct {
	AtS                float64 `json:"at_s"`
	WakeupP50          uint64  `json:"wakeup_p50"`
	WakeupP99          uint64  `json:"wakeup_p99"`
	RequestP50         uint64  `json:"request_p50"`
	RequestP99         uint64  `json:"request_p99"`
	RPSP50             uint64  `json:"rps_p50"`
	CurrentRPS         float64 `json:"current_rps"`
	SchedDelayMsgUs    float64 `json:"sched_delay_msg_us"`
	SchedDelayWorkerUs float64 `json:"sched_delay_worker_us"`
}
