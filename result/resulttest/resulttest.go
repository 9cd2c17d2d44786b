// Package resulttest makes synthetic ktstar results of a chosen size and
// shape, for the tests and benchmarks of compare and report: real
// reports can only come from real runs, which cannot be made to regress
// by a known amount, nor be 64 workers × 100,000 samples on a 2-core host.
package resulttest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
	"github.com/ktstar/ktstar/workload"
)

// Group is one labelled spawn of a synthetic result.
type Group struct {
	Label string
	// LatencyNs scales the wake-latency distribution (its median is
	// about 0.7 × LatencyNs); 0 records no samples.
	LatencyNs float64
	// WorkRate is each worker's work units per second.
	WorkRate float64
}

// Spec is the shape of a synthetic result.
type Spec struct {
	Reps    int // repetitions
	Workers int // per group
	Samples int // wake samples per worker
	Groups  []Group
	Seed    uint64
	// Timeline adds a 10-sample timeline to every run.
	Timeline bool
	// Steps gives every worker a phase slice for each of that many
	// scenario steps, as a backdrop worker has, each a share of its
	// figures and samples.
	Steps int
}

// Make builds the result. Every figure is drawn from Spec.Seed, so the
// same Spec gives the same document; group rows are computed by
// summary.Rows as a real run's are.
func Make(s Spec) *result.Doc {
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := &result.Doc{
		Version: "0.1.0-test", Script: "synthetic.star", Args: []string{}, Params: map[string]string{},
		StartTime: start, DurationNs: int64(s.Reps) * 1e9, Repeat: s.Reps,
		Host: result.Host{KernelRelease: "6.1.0-synthetic", CPUCount: 2, CPUModel: "synthetic"},
		Runs: []result.Run{}, Checks: []result.Check{},
	}
	tid := 1000
	for rep := 0; rep < s.Reps; rep++ {
		d.Repetitions = append(d.Repetitions, result.Repetition{StartTime: start.Add(time.Duration(rep) * time.Second), DurationNs: 1e9})
		for gi, g := range s.Groups {
			// Each repetition wobbles by about 1%, as real ones do.
			wobble := 1 + 0.01*rng.NormFloat64()
			var reports []workload.Report
			for w := 0; w < s.Workers; w++ {
				tid++
				wall := uint64(1e9)
				cpu := uint64(float64(wall) * (0.6 + 0.3*rng.Float64()))
				r := workload.Report{
					Tid: tid, WorkUnits: uint64(g.WorkRate * wobble * (0.95 + 0.1*rng.Float64())),
					Iterations: uint64(g.WorkRate * wobble / 1000), CPUTimeNs: cpu, WallTimeNs: wall, OffCPUNs: wall - cpu,
					MigrationCount: uint64(rng.IntN(5)), CPUsUsed: []int{0, 1}, MaxGapMs: uint64(5 + rng.IntN(10)),
					SchedstatCPUTimeNs: cpu, SchedstatRunDelayNs: uint64(float64(wall) * 0.05 * rng.Float64()),
					SchedstatRunCount: 1000, Completed: true, Cgroup: "/",
				}
				if g.LatencyNs > 0 {
					r.WakeLatenciesNs = make([]uint64, s.Samples)
					for i := range r.WakeLatenciesNs {
						// Log-normal: a body and a long tail, like wake latencies.
						r.WakeLatenciesNs[i] = uint64(g.LatencyNs * wobble * math.Exp(0.5*rng.NormFloat64()-0.35))
					}
					r.WakeSampleTotal = uint64(s.Samples)
					// The exact aggregates a real report carries beside
					// its reservoir (here they cover the same samples).
					h := hist.MustNew(hist.Nanoseconds)
					for _, v := range r.WakeLatenciesNs {
						h.Record(v)
					}
					sum := h.Summarize(workload.WakePercentiles)
					r.WakeStats, r.SampleKind = &sum, workload.SampleWake
				}
				r.PhaseSlices = slices(r, s.Steps)
				reports = append(reports, r)
			}
			run := starlib.Run{Handle: gi + 1, Label: g.Label,
				Workload: starlib.WorkloadJSON{Workers: s.Workers, Work: workload.MustWork("FutexPingPong", nil), Affinity: "inherit", Policy: "normal"},
				Reports:  reports}
			if s.Timeline {
				run.Timeline = timeline(reports)
			}
			d.Runs = append(d.Runs, result.Run{Run: run, Repetition: rep, Groups: summary.Rows(run.RowUnits())})
			res, err := checks.Evaluate(run.Units(), checks.Default())
			if err != nil {
				panic(err) // the default checks are valid
			}
			d.Checks = append(d.Checks, result.Check{Repetition: rep, CheckCall: starlib.CheckCall{
				Call: "synthetic.star:9:15", Function: "checks.evaluate", Verdict: res.Verdict(), Outcomes: res.Outcomes}})
		}
	}
	return d
}

// slices cuts n phase slices, one per step, out of r's figures.
func slices(r workload.Report, n int) []workload.PhaseSlice {
	var out []workload.PhaseSlice
	for k := range n {
		share := func(v uint64) uint64 { return v / uint64(n+1) }
		per := len(r.WakeLatenciesNs) / n
		wake := r.WakeLatenciesNs[k*per : k*per+min(per, workload.MaxPhaseSamples)]
		out = append(out, workload.PhaseSlice{PhaseEpoch: uint32(k + 1), WorkUnits: share(r.WorkUnits), Iterations: share(r.Iterations),
			CPUTimeNs: share(r.CPUTimeNs), WallNs: share(r.WallTimeNs), OffCPUNs: share(r.OffCPUNs), MigrationCount: share(r.MigrationCount),
			CPUsUsed: []int{k % 2}, MaxGapMs: r.MaxGapMs, WakeLatenciesNs: wake, WakeSampleTotal: uint64(per),
			SchedstatRunDelayNs: share(r.SchedstatRunDelayNs)})
	}
	return out
}

// timeline spreads each worker's iterations over ten samples of 100ms.
func timeline(reports []workload.Report) *starlib.Timeline {
	tl := &starlib.Timeline{IntervalNs: 1e8, Iterations: make([][]uint64, len(reports))}
	for i := 1; i <= 10; i++ {
		tl.TNs = append(tl.TNs, int64(i)*1e8)
	}
	for w, r := range reports {
		for i := 1; i <= 10; i++ {
			tl.Iterations[w] = append(tl.Iterations[w], r.Iterations*uint64(i*i)/100)
		}
	}
	return tl
}

// Write writes doc as a result file in a temporary directory of t and
// returns its path.
func Write(t testing.TB, doc *result.Doc) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Read writes doc and reads it back as compare and report do
// (result.ReadCompact, with histograms when hists).
func Read(t testing.TB, doc *result.Doc, hists bool) *result.Doc {
	t.Helper()
	d, err := result.ReadCompact(Write(t, doc), hists)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
