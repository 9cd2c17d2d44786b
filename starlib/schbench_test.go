package starlib

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/workload"
)

// TestSchbenchTables: a report dict made from a Schbench report converts
// back, percentiles and buckets included, and renders upstream's tables;
// another type's report is refused.
func TestSchbenchTables(t *testing.T) {
	h := hist.MustNew(hist.Schbench)
	for _, v := range []uint64{5, 700, 4000} {
		h.Record(v)
	}
	s := h.Summarize(hist.SchbenchPercentiles)
	lat := workload.SchbenchHist{Count: s.Count, Min: s.Min, Max: s.Max, Sum: s.Sum, P50: s.Percentiles[1].Value, Percentiles: s.Percentiles, Buckets: s.Buckets}
	rep := workload.SchbenchReport{Mode: "saturate", Wakeup: lat, Request: lat, ElapsedS: 3, AverageRPS: 1}
	dicts := Reports([]workload.Report{{Schbench: &rep}, {}})
	fn := Stats.Members["schbench_tables"]
	got, err := starlark.Call(new(starlark.Thread), fn, starlark.Tuple{dicts.Index(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := rep.Tables(); string(got.(starlark.String)) != want || !strings.Contains(want, "50.0th: 701        (1 samples)") {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := starlark.Call(new(starlark.Thread), fn, starlark.Tuple{dicts.Index(1)}, nil); err == nil || !strings.Contains(err.Error(), "not a work.schbench() worker") {
		t.Errorf("a report without schbench figures: %v", err)
	}
}
