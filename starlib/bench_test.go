package starlib_test

import (
	"runtime"
	"testing"

	"github.com/ktstar/ktstar/internal/reportbench"
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
	reports := reportbench.Reports(workers, n)
	thread := new(starlark.Thread)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := reportbench.P99(thread, reports); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	raw := float64(workers * n * 8)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/raw, "x-raw-mem")
}
