// Package reportbench is the one workload behind both measurements of
// what a script does with a big run's reports: the starlib benchmark
// (BenchmarkReportsPercentile) and bench's report-conversion row. Sharing
// it keeps the two timing the same thing.
package reportbench

import (
	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
)

// Reports returns workers reports of n wake-latency samples each, from a
// fixed-seed linear congruential generator, so every run converts the same
// data.
func Reports(workers, n int) []workload.Report {
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
	return reports
}

// P99 converts reports to Starlark report dicts and takes
// stats.percentile over all their wake samples, as a script's
// `stats.percentile([r["wake_latencies_ns"] for r in reports], 99)` does.
func P99(thread *starlark.Thread, reports []workload.Report) error {
	list := starlib.Reports(reports)
	lats := make([]starlark.Value, list.Len())
	for i := range lats {
		lats[i], _, _ = list.Index(i).(*starlark.Dict).Get(starlark.String("wake_latencies_ns"))
	}
	pct := starlib.Stats.Members["percentile"]
	_, err := starlark.Call(thread, pct, starlark.Tuple{starlark.NewList(lats), starlark.MakeInt(99)}, nil)
	return err
}
