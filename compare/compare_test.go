package compare

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/golden"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/result/resulttest"
)

// read writes doc and reads it back the way the command does.
func read(t testing.TB, doc *result.Doc) *result.Doc { return resulttest.Read(t, doc, false) }

func spec(reps int, seed uint64, webLatency float64, groups ...resulttest.Group) resulttest.Spec {
	return resulttest.Spec{Reps: reps, Workers: 2, Samples: 2000, Seed: seed, Groups: append([]resulttest.Group{
		{Label: "web", LatencyNs: webLatency, WorkRate: 1e6},
		{Label: "db", LatencyNs: 50_000, WorkRate: 2e6},
	}, groups...)}
}

func find(r Report, label, metric string) (Group, Change) {
	for _, g := range r.Groups {
		if g.Label == label {
			for _, c := range g.Changes {
				if c.Metric == metric {
					return g, c
				}
			}
			return g, Change{}
		}
	}
	return Group{}, Change{}
}

// TestRegressionFound: a 20% p99 regression in web over 5 repetitions
// each is significant and breaks p99=10%; db, unchanged, breaks nothing.
func TestRegressionFound(t *testing.T) {
	gates, err := ParseGates("p99=10%,work_rate=5%")
	if err != nil {
		t.Fatal(err)
	}
	base := read(t, resulttest.Make(spec(5, 1, 20_000)))
	next := read(t, resulttest.Make(spec(5, 2, 24_000)))
	r := Compare(base, next, gates)
	if r.Mode != PerRepetition {
		t.Errorf("mode %s, want %s", r.Mode, PerRepetition)
	}
	_, c := find(r, "web", "p99")
	if !c.Significant || !c.Worse || c.Regression != "p99=10%" || c.DeltaPct < 15 || c.DeltaPct > 25 || c.Base.N != 5 || c.New.N != 5 {
		t.Errorf("web p99: %+v", c)
	}
	if len(r.Regressions) != 1 || !strings.HasPrefix(r.Regressions[0], "web: p99 +") || !strings.HasSuffix(r.Regressions[0], "past p99=10%") {
		t.Errorf("regressions %q, want web's p99 alone", r.Regressions)
	}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "✗ past p99=10%") || !strings.Contains(out.String(), "1 significant regression(s):") {
		t.Errorf("text:\n%s", out.String())
	}
}

// TestSameDistribution: two results drawn from one distribution show no
// significant change in any metric, and no regression.
func TestSameDistribution(t *testing.T) {
	gates, _ := ParseGates("p99=10%,work_rate=5%,max=10%")
	r := Compare(read(t, resulttest.Make(spec(5, 3, 20_000))), read(t, resulttest.Make(spec(5, 4, 20_000))), gates)
	for _, g := range r.Groups {
		for _, c := range g.Changes {
			if c.Regression != "" {
				t.Errorf("%s %s: regression %+v", g.Label, c.Metric, c)
			}
		}
	}
	if _, c := find(r, "web", "p99"); c.Significant {
		t.Errorf("web p99 significant: %+v", c)
	}
	if len(r.Regressions) != 0 {
		t.Errorf("regressions %q", r.Regressions)
	}
}

// TestAddedRemoved: labels in one result only are listed as such.
func TestAddedRemoved(t *testing.T) {
	base := read(t, resulttest.Make(spec(3, 1, 20_000, resulttest.Group{Label: "old", WorkRate: 1})))
	next := read(t, resulttest.Make(spec(3, 2, 20_000, resulttest.Group{Label: "batch", WorkRate: 1})))
	r := Compare(base, next, nil)
	status := map[string]string{}
	for _, g := range r.Groups {
		status[g.Label] = g.Status
	}
	if status["old"] != "removed" || status["batch"] != "added" || status["web"] != "both" || len(status) != 4 {
		t.Errorf("statuses %v", status)
	}
	var out bytes.Buffer
	r.WriteText(&out)
	if !strings.Contains(out.String(), "removed: old (only in the base result)") || !strings.Contains(out.String(), "added: batch (only in the new result)") {
		t.Errorf("text:\n%s", out.String())
	}
}

// TestPerWorker: a side that ran once is compared worker by worker; with
// 8 workers a doubled latency is significant.
func TestPerWorker(t *testing.T) {
	s := spec(1, 1, 20_000)
	s.Workers = 8
	n := spec(1, 2, 40_000)
	n.Workers = 8
	r := Compare(read(t, resulttest.Make(s)), read(t, resulttest.Make(n)), nil)
	_, c := find(r, "web", "p50")
	if r.Mode != PerWorker || c.Base.N != 8 || !c.Significant || c.DeltaPct < 80 {
		t.Errorf("mode %s, web p50 %+v", r.Mode, c)
	}
}

// TestGates checks --max-regress parsing and the absolute-and-relative
// rule: a change must exceed every threshold of its gate.
func TestGates(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "p99=10%", want: "p99=10%"},
		{in: "p99=10%+50us, work_rate=5%", want: "p99=10%+50µs work_rate=5%"},
		{in: "max_gap=20ms", want: "max_gap=20ms"},
		{in: "migrations=3", want: "migrations=3"},
		{in: "p98=10%", err: `unknown metric "p98"`},
		{in: "p99", err: "want METRIC=LIMIT"},
		{in: "p99=-1%", err: "want a percentage above 0"},
		{in: "p99=fast", err: "want a percentage or a duration above 0"},
		{in: "work_rate=1ms", err: "want a percentage or a number above 0"},
	} {
		g, err := ParseGates(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		var names []string
		for _, x := range g {
			names = append(names, x.String())
		}
		if err != nil || strings.Join(names, " ") != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, names, err, tc.want)
		}
	}
	c := Change{Base: Stat{Center: 100_000}, New: Stat{Center: 120_000}, DeltaPct: 20}
	for _, tc := range []struct {
		gate Gate
		past bool
	}{
		{Gate{Metric: "p99", RelPct: 10}, true},
		{Gate{Metric: "p99", RelPct: 25}, false},
		{Gate{Metric: "p99", Abs: 10_000}, true},
		{Gate{Metric: "p99", RelPct: 10, Abs: 50_000}, false}, // relative past, absolute not
		{Gate{Metric: "p99", RelPct: 30, Abs: 1_000}, false},  // absolute past, relative not
	} {
		if got := pastGate(tc.gate, c); got != tc.past {
			t.Errorf("%s on +20%%/+20µs: %v, want %v", tc.gate, got, tc.past)
		}
	}
}

// TestTextGolden fixes the text form of a comparison of two fixture
// results (fixed seeds): columns, "~", the gate verdict, added and
// removed groups and the closing list of regressions.
func TestTextGolden(t *testing.T) {
	gates, _ := ParseGates("p99=10%,max_gap=50ms")
	base := read(t, resulttest.Make(spec(5, 1, 20_000, resulttest.Group{Label: "old", WorkRate: 1})))
	next := read(t, resulttest.Make(spec(5, 2, 24_000, resulttest.Group{Label: "batch", WorkRate: 1})))
	r := Compare(base, next, gates)
	r.Base, r.New = "base.json", "new.json"
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "compare.golden"), out.String())
}
