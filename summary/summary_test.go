package summary

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/internal/golden"
	"github.com/ktstar/ktstar/stats"
	"github.com/ktstar/ktstar/workload"
)

// fixedUnits is a run frozen in time: a spinning group and a ping-pong
// group with wake samples, one of whose workers was killed.
func fixedUnits() []checks.Unit {
	spin := func(tid int, off uint64) workload.Report {
		return workload.Report{Tid: tid, WorkUnits: 6_000_000, Iterations: 5860, CPUTimeNs: 1e9 - off, WallTimeNs: 1e9, OffCPUNs: off,
			MigrationCount: 2, MaxGapMs: 12, CPUsUsed: []int{0, 1}, Completed: true, SchedstatRunDelayNs: off / 50}
	}
	lat := make([]uint64, 1000)
	for i := range lat {
		lat[i] = uint64(2000 + i*i*5) // 2µs .. ~5ms, skewed to the low end
	}
	// The histogram holds every sample: the reservoir's, and 1,900 more
	// that it dropped, among them the true maximum.
	h := hist.MustNew(hist.Nanoseconds)
	for _, v := range lat {
		h.Record(v)
	}
	for i := range 1900 {
		h.Record(uint64(3000 + i))
	}
	h.Record(20_000_000)
	all := h.Summarize(workload.WakePercentiles)
	pp := workload.Report{Tid: 21, GroupIdx: 1, WorkUnits: 3_000_000, Iterations: 2900, CPUTimeNs: 4e8, WallTimeNs: 1e9, OffCPUNs: 6e8,
		MaxGapMs: 3, WakeLatenciesNs: lat, WakeSampleTotal: 2901, WakeStats: &all, SampleKind: workload.SampleWake, Completed: true}
	dead := workload.Report{Tid: 22, GroupIdx: 1, ExitInfo: &workload.ExitInfo{Kind: workload.ExitSignaled, Signal: 9}}
	return []checks.Unit{
		{Name: "group 0", Reports: []workload.Report{spin(11, 1e8), spin(12, 3e8)}},
		{Name: "group 1", Reports: []workload.Report{pp, dead}},
	}
}

func TestGolden(t *testing.T) {
	units := fixedUnits()
	res, err := checks.Evaluate(units, checks.Assert{"not_starved": checks.On(), "max_p99_wake_latency_ns": checks.Limit(1e6)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		opt  Options
	}{
		{"summary.golden", Options{}},
		{"summary_histogram.golden", Options{Histogram: true}},
		{"summary_quiet.golden", Options{Quiet: true}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, Rows(units), res, tc.opt); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/"+tc.file, buf.String())
	}
}

func TestColor(t *testing.T) {
	units := fixedUnits()
	res, _ := checks.Evaluate(units, checks.Assert{"not_starved": checks.On()})
	var plain, colored bytes.Buffer
	Write(&plain, Rows(units), res, Options{})
	Write(&colored, Rows(units), res, Options{Color: true})
	if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
		t.Error("escape codes with colour off")
	}
	if !bytes.Contains(colored.Bytes(), []byte("\x1b[31;1m✗ not_starved")) || !bytes.Contains(colored.Bytes(), []byte("\x1b[32m✓ ")) {
		t.Errorf("want red failures and green passes:\n%q", colored.String())
	}
}

func TestRows(t *testing.T) {
	rows := Rows(fixedUnits())
	r := rows[0]
	if r.Workers != 2 || r.CPUPct != 80 || r.OffCPUPct != 20 || r.WorkRate != 12e6 || r.Migrations != 4 || r.Completed != 2 {
		t.Errorf("spin row: %+v", r)
	}
	// Run delays of 2 ms and 6 ms: the median by nearest rank, and the sum.
	if r.RunDelayP50Ns != 2e6 || r.RunDelayTotalNs != 8e6 {
		t.Errorf("run delay p50 %d, total %d: want 2 ms and 8 ms", r.RunDelayP50Ns, r.RunDelayTotalNs)
	}
	r = rows[1]
	// Figures cover every sample: the maximum the reservoir dropped shows.
	if r.WakeSamples != 1000 || r.WakeTotal != 2901 || r.WakeMinNs != 2000 || r.WakeMaxNs != 20_000_000 || r.Completed != 1 ||
		r.WakeStats == nil || r.WakeStats.Count != 2901 {
		t.Errorf("ping-pong row: %+v", r)
	}
}

// TestTimerColumns checks that timer samples get columns of their own,
// separate from wake samples, and only in tables that have some.
func TestTimerColumns(t *testing.T) {
	timer := make([]uint64, 100)
	for i := range timer {
		timer[i] = uint64(i+1) * 1000 // 1µs .. 100µs: p50 50µs, p99 99µs
	}
	units := append(fixedUnits(), checks.Unit{Name: "timer", Reports: []workload.Report{{
		Tid: 31, Iterations: 1000, WallTimeNs: 1e9, OffCPUNs: 1e9, TimerLatenciesNs: timer, TimerSampleTotal: 1000, Completed: true,
	}}})
	rows := Rows(units)
	if r := rows[2]; r.TimerSamples != 100 || r.TimerTotal != 1000 || r.TimerP50Ns != 50_000 || r.TimerP99Ns != 99_000 || r.WakeSamples != 0 {
		t.Errorf("timer row: %+v", r)
	}
	var with, without bytes.Buffer
	if err := WriteTable(&with, rows, Options{}); err != nil {
		t.Fatal(err)
	}
	WriteTable(&without, rows[:2], Options{})
	lines := strings.Split(with.String(), "\n")
	if !strings.Contains(lines[0], "timer p50") || !strings.HasSuffix(strings.TrimSpace(lines[3]), "50µs  99µs  100/1000") {
		t.Errorf("table with a timer row:\n%s", with.String())
	}
	if strings.Contains(without.String(), "timer") {
		t.Errorf("table without timer samples has timer columns:\n%s", without.String())
	}
}

// TestSchedExtNote: a unit of sched.ext() workers says under the table
// where they ran, the distinct classes once each; other units say nothing.
func TestSchedExtNote(t *testing.T) {
	fair := "fair: no BPF scheduler loaded (sched_ext disabled)"
	units := append(fixedUnits(), checks.Unit{Name: "ext", Reports: []workload.Report{
		{Tid: 41, WallTimeNs: 1e9, SchedExt: "ext: BPF scheduler qmap", Completed: true},
		{Tid: 42, WallTimeNs: 1e9, SchedExt: fair, Completed: true},
		{Tid: 43, WallTimeNs: 1e9, SchedExt: fair, Completed: true},
	}})
	rows := Rows(units)
	want := "ext: BPF scheduler qmap; " + fair
	if rows[0].SchedExt != "" || rows[2].SchedExt != want {
		t.Fatalf("sched_ext of the rows: %q, %q; want \"\" and %q", rows[0].SchedExt, rows[2].SchedExt, want)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, rows, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "sched.ext() workers ran in"); n != 1 || !strings.Contains(b.String(), "ext: sched.ext() workers ran in "+want+"\n") {
		t.Errorf("table:\n%s\nwant one note for group ext", b.String())
	}
}

// TestHistogramPercentiles checks the percentiles that rows and checks take
// from the merged histograms against exact nearest-rank percentiles of
// known data: within the histogram's stated relative error of 1/512.
func TestHistogramPercentiles(t *testing.T) {
	uniform := make([]uint64, 100_000)
	skewed := make([]uint64, 100_000)
	for i := range uniform {
		uniform[i] = uint64(i) * 37
		skewed[i] = uint64(500 + i*i/7) // 500 ns .. ~1.4 s
	}
	for _, tc := range []struct {
		name string
		data []uint64
	}{
		{"small exact values", []uint64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377}},
		{"uniform", uniform},
		{"skewed", skewed},
		{"one value", []uint64{123_456_789}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two reports, as two workers, so the merge is exercised too.
			half := len(tc.data) / 2
			reps := []workload.Report{report(tc.data[:half]), report(tc.data[half:])}
			row := Rows([]checks.Unit{{Name: "g", Reports: reps}})[0]
			got := []uint64{row.WakeP50Ns, row.WakeP90Ns, row.WakeP99Ns, row.WakeP999Ns}
			for i, p := range workload.WakePercentiles {
				want, _ := stats.Percentile(p, tc.data)
				if d := max(got[i], want) - min(got[i], want); d > want/512 {
					t.Errorf("p%g = %d, exact %d: off by %d, more than 1/512", p, got[i], want, d)
				}
			}
			if row.WakeMinNs != slices.Min(tc.data) || row.WakeMaxNs != slices.Max(tc.data) || row.WakeTotal != uint64(len(tc.data)) {
				t.Errorf("min %d, max %d, count %d: want the exact %d, %d, %d",
					row.WakeMinNs, row.WakeMaxNs, row.WakeTotal, slices.Min(tc.data), slices.Max(tc.data), len(tc.data))
			}
		})
	}
}

// report is a worker's report of the samples data, all of them kept.
func report(data []uint64) workload.Report {
	h := hist.MustNew(hist.Nanoseconds)
	for _, v := range data {
		h.Record(v)
	}
	s := h.Summarize(workload.WakePercentiles)
	return workload.Report{WakeLatenciesNs: data, WakeSampleTotal: uint64(len(data)), WakeStats: &s, SampleKind: workload.SampleWake, Completed: true}
}

// TestMedianFoldsEveryFigure sets every numeric figure of three
// repetitions to k·1, k·3 and k·2 (k the field's position) and of a second
// label's two repetitions to k·1 and k·4: each folded figure must be the
// median (2k; 2.5k truncated for integers), so a figure Median forgets
// fails here.
func TestMedianFoldsEveryFigure(t *testing.T) {
	mk := func(label string, mul float64) Row {
		r := Row{Label: label, SampleKind: "wake", TimerExact: true}
		v := reflect.ValueOf(&r).Elem()
		for f := range v.NumField() {
			x := float64(f+1) * mul
			switch fv := v.Field(f); {
			case !fv.CanSet():
			case fv.Kind() == reflect.Int:
				fv.SetInt(int64(x))
			case fv.Kind() == reflect.Uint64:
				fv.SetUint(uint64(x))
			case fv.Kind() == reflect.Float64:
				fv.SetFloat(x)
			}
		}
		return r
	}
	got := Median([][]Row{{mk("a", 1), mk("b", 1)}, {mk("a", 3), mk("b", 4)}, {mk("a", 2)}})
	if len(got) != 2 || got[0].Label != "a" || got[1].Label != "b" {
		t.Fatalf("labels: %+v", got)
	}
	for i, mid := range []float64{2, 2.5} {
		r := got[i]
		if r.SampleKind != "wake" || !r.TimerExact || r.spread == nil || r.spread.reps != 3-i {
			t.Errorf("%s: kind %q, exact %v, spread %+v", r.Label, r.SampleKind, r.TimerExact, r.spread)
		}
		v := reflect.ValueOf(r)
		for f := range v.NumField() {
			want := float64(f+1) * mid
			name := v.Type().Field(f).Name
			switch fv := v.Field(f); fv.Kind() {
			case reflect.Int:
				if fv.Int() != int64(want) {
					t.Errorf("%s.%s = %d, want %d", r.Label, name, fv.Int(), int64(want))
				}
			case reflect.Uint64:
				if fv.Uint() != uint64(want) {
					t.Errorf("%s.%s = %d, want %d", r.Label, name, fv.Uint(), uint64(want))
				}
			case reflect.Float64:
				if fv.Float() != want {
					t.Errorf("%s.%s = %g, want %g", r.Label, name, fv.Float(), want)
				}
			}
		}
	}
}
