package starlib_test

import (
	"runtime"
	"testing"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// BenchmarkReportsPercentile converts 64 reports of 100,000 samples each
// to Starlark and takes stats.percentile over all of them, as a script's
// `stats.percentile([r["wake_latencies_ns"] for r in reports], 99)` does.
// Goals: at most 300 ms, and at most 2x the raw samples' memory
// (x-raw-mem is bytes allocated per op over the raw bytes).
func BenchmarkReportsPercentile(b *testing.B) {
	const workers, n = 64, workload.MaxWakeSamples
	reports := make([]workload.Report, workers)
	seed := uint64(1)
	for i := range reports {
		lat := make([]uint64, n)
		for j := range lat {
			seed = seed*6364136223846793005 + 1442695040888963407
			lat[j] = 1000 + seed>>44
		}
		reports[i].WakeLatenciesNs = lat
	}
	pct := starlib.Stats.Members["percentile"]
	thread := new(starlark.Thread)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		list := starlib.Reports(reports)
		lats := make([]starlark.Value, list.Len())
		for i := range lats {
			lats[i], _, _ = list.Index(i).(*starlark.Dict).Get(starlark.String("wake_latencies_ns"))
		}
		if _, err := starlark.Call(thread, pct, starlark.Tuple{starlark.NewList(lats), starlark.MakeInt(99)}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	raw := float64(workers * n * 8)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/raw, "x-raw-mem")
}
