package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/workload"
)

// TestMain routes re-exec'd workers (this test binary is /proc/self/exe)
// into the worker entry hook before any test runs.
func TestMain(m *testing.M) {
	workload.Init()
	os.Exit(m.Run())
}

// testEnv builds the C references once per test into a temporary directory.
func testEnv(t *testing.T) (*env, []string) {
	t.Helper()
	e := &env{tmp: t.TempDir()}
	e.cbin = filepath.Join(e.tmp, "c")
	progs, err := buildC(e.cbin)
	if err != nil {
		t.Fatalf("build C references: %v", err)
	}
	return e, progs
}

// TestCReferences builds every C reference and runs each one the table
// uses for a fraction of a second, so none of them can rot: each must exit
// cleanly and print JSON with non-zero work. Speed is never asserted.
func TestCReferences(t *testing.T) {
	e, progs := testEnv(t)
	used := map[string]bool{}
	seen := map[string]bool{}
	for _, r := range rows() {
		var side runner
		switch b := r.B.(type) {
		case cProg:
			used[b.Prog] = true
			side = b
		case cSpawn:
			used["spawn"], used[b.child()] = true, true
			side = cSpawn{N: 4, Static: b.Static} // small n: the test checks it works
		case cThreadSpawn:
			used["thread_spawn"] = true
			side = cThreadSpawn{N: 4}
		default:
			continue
		}
		if seen[side.Describe()] {
			continue
		}
		seen[side.Describe()] = true
		t.Run(r.Name, func(t *testing.T) {
			if why := side.Missing(e); why != "" {
				if b, ok := side.(cSpawn); ok && b.Static {
					t.Skipf("no static C library: %s", why)
				}
				t.Fatalf("missing: %s", why)
			}
			f, err := side.Run(e, 150*time.Millisecond, testenv.CPUs(t, 1))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := side.(cThreadSpawn); ok {
				for _, k := range []string{"per_child_ns", "ready_p50_ns", "thread_private_kb"} {
					if f[k] <= 0 {
						t.Errorf("%s = %v, want > 0 (figures %v)", k, f[k], f)
					}
				}
				return
			}
			if _, ok := side.(cSpawn); ok {
				for _, k := range []string{"per_child_ns", "ready_p50_ns", "child_anon_kb"} {
					if f[k] <= 0 {
						t.Errorf("%s = %v, want > 0 (figures %v)", k, f[k], f)
					}
				}
				return
			}
			if f["iterations"] <= 0 || f["iterations_per_s"] <= 0 {
				t.Errorf("no iterations: %v", f)
			}
			wantUnits := !slices.ContainsFunc(r.B.(cProg).Args, func(a string) bool { return strings.HasSuffix(a, "_iters=0") })
			if wantUnits && f["work_units"] <= 0 {
				t.Errorf("no work units: %v", f)
			}
			for _, m := range r.Metrics {
				if strings.HasPrefix(m.bkey(), "wake_") && f["wake_samples"] <= 0 {
					t.Errorf("no wake samples for %s: %v", m.bkey(), f)
				}
			}
		})
	}
	for _, p := range progs {
		if !used[p] {
			t.Errorf("C program %s is built but no row runs it", p)
		}
	}
}

// TestDriverTinyRun runs the driver's row loop, table and JSON on a tiny
// table: a real comparison, a spawn row, a row whose ktstar work type does
// not exist and the report-conversion measurement.
func TestDriverTinyRun(t *testing.T) {
	e, _ := testEnv(t)
	rs := []row{
		{Name: "SpinWait", Section: sectionFidelity, Pin: true,
			A: kt("SpinWait", 1, nil), B: cref("spin", 1),
			Metrics: []metric{rate(goal{Min: 0.95})}},
		{Name: "NoSuchType", Section: sectionFidelity,
			A: kt("NoSuchType", 1, nil), B: cref("spin", 1),
			Metrics: []metric{rate(goal{})}},
		{Name: "spawn N=2", Section: sectionEngine,
			A: ktstarSpawn{N: 2}, B: cSpawn{N: 2},
			Metrics: []metric{{Label: "per worker", AKey: "per_child_ns"}, {Label: "anon", AKey: "child_anon_kb"}}},
		{Name: "conversion", Section: sectionEngine, A: reportConversion{},
			Metrics: []metric{{Label: "ms", AKey: "convert_ms"}}},
	}
	var progress bytes.Buffer
	res := result{Pairs: 2, Duration: "50ms", Rows: runRows(e, rs, options{Pairs: 2, Duration: 50 * time.Millisecond, CPUs: testenv.CPUs(t, 1)}, &progress)}

	var table bytes.Buffer
	writeTable(&table, res)
	for _, want := range []string{
		"SpinWait", "work units/s", "≥ 0.95",
		"NoSuchType: skipped: work type NoSuchType is not in workload.Names()",
		"conversion", "per worker",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if n := strings.Count(progress.String(), "pair "); n != 6 {
		t.Errorf("progress shows %d pairs, want 6 (3 rows × 2):\n%s", n, progress.String())
	}

	var js bytes.Buffer
	if err := writeJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not decode: %v\n%s", err, js.String())
	}
	if len(back.Rows) != len(rs) {
		t.Fatalf("JSON has %d rows, want %d", len(back.Rows), len(rs))
	}
	for _, i := range []int{0, 2} {
		r := back.Rows[i]
		if r.Error != "" || r.Skipped != "" || len(r.Metrics) == 0 {
			t.Fatalf("row %s: error %q, skipped %q, %d metrics", r.Name, r.Error, r.Skipped, len(r.Metrics))
		}
		for _, m := range r.Metrics {
			if len(m.Pairs) != 2 || m.Ratio == nil || m.Reference == nil {
				t.Fatalf("row %s metric %s: %d pairs, ratio %v, reference %v", r.Name, m.Label, len(m.Pairs), m.Ratio, m.Reference)
			}
			for _, s := range []spread{m.Ktstar, *m.Reference, *m.Ratio} {
				// A run starved by other load may measure 0; the driver's
				// arithmetic must still order the spread.
				if !(s.Min <= s.Median && s.Median <= s.Max) || s.Min < 0 {
					t.Errorf("row %s metric %s: spread %+v is not 0 ≤ min ≤ median ≤ max", r.Name, m.Label, s)
				}
			}
		}
	}
	if m := back.Rows[0].Metrics[0]; m.Goal != "≥ 0.95" || m.Met == nil {
		t.Errorf("SpinWait metric goal %q met %v: want the goal judged", m.Goal, m.Met)
	}
	if r := back.Rows[1]; r.Skipped == "" || len(r.Metrics) != 0 {
		t.Errorf("row %s: want skipped without metrics, got %+v", r.Name, r)
	}
	// A one-sided measurement: its own figures, no reference or ratio.
	if m := back.Rows[3].Metrics; len(m) != 1 || len(m[0].Pairs) != 2 || m[0].Ktstar.Min <= 0 || m[0].Ratio != nil {
		t.Errorf("conversion row: %+v", back.Rows[3])
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-pairs", "0"}, "-pairs = 0, want at least 1"},
		{[]string{"-duration", "1ms"}, "-duration = 1ms, want at least 10ms"},
		{[]string{"-cpus", "x"}, `-cpus "x"`},
		{[]string{"-only", "("}, `-only "("`},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func TestListNamesEveryRow(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-list"}, &out, &errb); code != 0 {
		t.Fatalf("run -list = %d: %s", code, errb.String())
	}
	if got, want := strings.Count(out.String(), "\n"), len(rows()); got != want {
		t.Errorf("-list printed %d rows, want %d", got, want)
	}
}

func TestPercentileAndSpread(t *testing.T) {
	v := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want uint64
	}{{50, 5}, {99, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("percentile(1..10, %v) = %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %d, want 0", got)
	}
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{[]float64{3, 1, 2}, spread{1, 2, 3}},
		{[]float64{4, 1, 3, 2}, spread{1, 2.5, 4}},
		{nil, spread{}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	out := []byte("# Histogram\n000001 000050\n000002 000049\n000003 000000\n# Total: 000000100\n# Histogram Overflows: 00001\n")
	p50, p99, err := histogramPercentiles(out)
	if err != nil || p50 != 1000 || p99 != 2000 {
		t.Errorf("got p50 %v p99 %v err %v, want 1000 2000 nil", p50, p99, err)
	}
	if _, _, err := histogramPercentiles([]byte("# Histogram\n")); err == nil {
		t.Error("empty histogram: want an error")
	}
}

// TestNotComparableLabelled: peer rows whose tools count another unit are
// labelled so in the table, with the reason, instead of showing a ratio
// as if it were a fidelity figure.
func TestNotComparableLabelled(t *testing.T) {
	for _, name := range []string{"FutexPingPong vs stress-ng --futex", "PipeIo ×4 vs hackbench pipe group"} {
		i := slices.IndexFunc(rows(), func(r row) bool { return r.Name == name })
		if i < 0 || rows()[i].Metrics[0].NotComparable == "" {
			t.Errorf("row %q is not labelled not comparable", name)
		}
	}
	one := 1.0
	sp := spread{Min: 1, Median: 1, Max: 1}
	var b bytes.Buffer
	writeSection(&b, []rowResult{{Name: "X vs tool", Metrics: []metricResult{{Label: "ops/s", Key: "ops_per_s",
		Pairs: []pairValue{{Ktstar: 1, Reference: &one, Ratio: &one}}, Ktstar: sp, Reference: &sp, Ratio: &sp,
		NotComparable: "tool counts calls"}}}})
	for _, want := range []string{"1.000 [1.000–1.000]     not comparable", "X vs tool, ops/s: not comparable: tool counts calls"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		key  string
		v    float64
		want string
	}{
		{"p50_ns", 12, "12 ns"},
		{"p50_ns", 1500, "1.5 µs"},
		{"p50_ns", 2.5e6, "2.5 ms"},
		{"work_per_s", 7, "7/s"},
		{"work_per_s", 4500, "4.5k/s"},
		{"work_per_s", 1.2e6, "1.2M/s"},
		{"anon_kb", 12.4, "12 KiB"},
		{"convert_ms", 3.14159, "3.1 ms"},
		{"ratio", 1.23456, "1.235"},
		{"p50_ns", math.NaN(), "n/a"},
	} {
		if got := formatValue(tc.key, tc.v); got != tc.want {
			t.Errorf("formatValue(%s, %g) = %q, want %q", tc.key, tc.v, got, tc.want)
		}
	}
}
