package result_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/result/resulttest"
	"github.com/ktstar/ktstar/stats"
)

// readEveryWay reads the result file p in full (result.Read) and
// compactly, with and without histograms (result.ReadCompact).
func readEveryWay(t *testing.T, p string) (full, hists, bare *result.Doc) {
	t.Helper()
	full, err := result.Read(p)
	if err == nil {
		hists, err = result.ReadCompact(p, true)
	}
	if err == nil {
		bare, err = result.ReadCompact(p, false)
	}
	if err != nil {
		t.Fatal(err)
	}
	return full, hists, bare
}

// TestReadCompactMatchesRead reads one result both ways: the same
// document, with every report's samples summarised exactly as stats
// computes them from the full list, and nothing left of the lists.
func TestReadCompactMatchesRead(t *testing.T) {
	doc := resulttest.Make(resulttest.Spec{Reps: 2, Workers: 3, Samples: 500, Seed: 7, Timeline: true,
		Groups: []resulttest.Group{{Label: "a", LatencyNs: 10_000, WorkRate: 1e6}, {Label: "quiet", WorkRate: 5}}})
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "r.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	full, compact, bare := readEveryWay(t, p)
	// Without histograms the buckets are dropped; counts and maxima stay.
	for i, r := range bare.Runs {
		for j, rep := range r.Reports {
			fs := full.Runs[i].Reports[j].WakeStats
			if (fs == nil) != (rep.WakeStats == nil) || fs != nil && (len(rep.WakeStats.Buckets) != 0 || rep.WakeStats.Count != fs.Count || rep.WakeStats.Max != fs.Max) {
				t.Errorf("run %d report %d: wake_stats %+v without histograms, want %d samples up to %d and no buckets", i, j, rep.WakeStats, fs.Count, fs.Max)
			}
		}
		if g := r.Groups[0].WakeStats; g != nil && len(g.Buckets) != 0 {
			t.Errorf("run %d: row buckets kept without histograms", i)
		}
	}
	if len(full.Runs) != 4 || len(compact.Runs) != 4 {
		t.Fatalf("%d and %d runs, want 4", len(full.Runs), len(compact.Runs))
	}
	for i, fr := range full.Runs {
		cr := compact.Runs[i]
		if cr.Label != fr.Label || len(cr.Samples) != len(fr.Reports) || cr.Timeline == nil {
			t.Fatalf("run %d: %q/%q, %d samples for %d reports", i, cr.Label, fr.Label, len(cr.Samples), len(fr.Reports))
		}
		for j, rep := range fr.Reports {
			s := cr.Samples[j]
			if len(cr.Reports[j].WakeLatenciesNs) != 0 || cr.Reports[j].WorkUnits != rep.WorkUnits {
				t.Errorf("run %d report %d: samples kept or fields lost", i, j)
			}
			if s.N != uint64(len(rep.WakeLatenciesNs)) {
				t.Errorf("run %d report %d: N %d, want %d", i, j, s.N, len(rep.WakeLatenciesNs))
			}
			if s.N == 0 {
				continue
			}
			p, _ := stats.Percentiles([]float64{0, 50, 90, 99, 99.9, 100}, rep.WakeLatenciesNs)
			got := []uint64{s.Min, s.P50, s.P90, s.P99, s.P999, s.Max}
			for k := range p {
				if got[k] != p[k] {
					t.Errorf("run %d report %d: stats %v, want %v", i, j, got, p)
					break
				}
			}
			var n uint64
			for _, b := range s.Hist.Buckets {
				n += b.Count
			}
			if n != s.N || s.Hist.Count != s.N || s.Hist.Max != s.Max || s.Hist.Min != s.Min {
				t.Errorf("histogram holds %d (count %d, min %d, max %d), want %d, %d, %d", n, s.Hist.Count, s.Hist.Min, s.Hist.Max, s.N, s.Min, s.Max)
			}
		}
	}
}

// TestReadCompactRefuses: damaged sample lists are errors naming the
// field, and a key inside a string is left alone.
func TestReadCompactRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"letter", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[1,x]}]}]}`, `want an unsigned integer, got 'x'`},
		{"truncated", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[1,2`, "the JSON ends early"},
		{"overflow", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[18446744073709551616]}]}]}`, "overflows 64 bits"},
		{"two-numbers", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[1 2]}]}]}`, `want ',' or ']', got '2'`},
		{"trailing-comma", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[1,]}]}]}`, `want an unsigned integer, got ']'`},
		{"object", `{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":{}}]}]}`, "is not an array"},
	} {
		p := filepath.Join(t.TempDir(), tc.name+".json")
		os.WriteFile(p, []byte(tc.doc), 0o644)
		if _, err := result.ReadCompact(p, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	p := filepath.Join(t.TempDir(), "max.json")
	os.WriteFile(p, []byte(`{"ktstar_version":"x","runs":[{"reports":[{"wake_latencies_ns":[ 18446744073709551615 , 0 ]}]}]}`), 0o644)
	if d, err := result.ReadCompact(p, false); err != nil || d.Runs[0].Samples[0].Max != 1<<64-1 || d.Runs[0].Samples[0].N != 2 {
		t.Errorf("the largest sample: %v %+v", err, d)
	}
	p = filepath.Join(t.TempDir(), "string.json")
	os.WriteFile(p, []byte(`{"ktstar_version":"x","script":"a \"wake_latencies_ns\": [1]","runs":[]}`), 0o644)
	d, err := result.ReadCompact(p, false)
	if err != nil || d.Script != `a "wake_latencies_ns": [1]` {
		t.Errorf("a key inside a string: %v, %q", err, d.Script)
	}
}

// TestReadCompactPhaseSlices reads a result of backdrop workers with
// phase slices, whose own wake_latencies_ns must not be taken for a
// report's: ReadCompact drops the slices and keeps one sample summary
// per report, and the rows stored with the run have one per step.
func TestReadCompactPhaseSlices(t *testing.T) {
	doc := resulttest.Make(resulttest.Spec{Reps: 1, Workers: 2, Samples: 300, Seed: 3, Steps: 3,
		Groups: []resulttest.Group{{Label: "bg", LatencyNs: 10_000, WorkRate: 1e6}}})
	full, _, compact := readEveryWay(t, resulttest.Write(t, doc))
	var labels []string
	for _, row := range compact.Runs[0].Rows() {
		labels = append(labels, row.Label)
	}
	if got := strings.Join(labels, ", "); got != "bg, bg step 0, bg step 1, bg step 2" {
		t.Errorf("rows %s, want bg and one per step", got)
	}
	for j, rep := range compact.Runs[0].Reports {
		if len(full.Runs[0].Reports[j].PhaseSlices) != 3 || len(rep.PhaseSlices) != 0 {
			t.Errorf("report %d: %d slices read, %d kept compact; want 3 and 0", j, len(full.Runs[0].Reports[j].PhaseSlices), len(rep.PhaseSlices))
		}
		if s := compact.Runs[0].Samples[j]; s.N != 300 {
			t.Errorf("report %d: compact samples %d, want the report's 300", j, s.N)
		}
	}
}
