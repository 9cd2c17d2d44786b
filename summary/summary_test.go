package summary

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedUnits is a run frozen in time: a spinning group and a ping-pong
// group with wake samples, one of whose workers was killed.
func fixedUnits() []checks.Unit {
	spin := func(tid int, off uint64) workload.Report {
		return workload.Report{Tid: tid, WorkUnits: 6_000_000, Iterations: 5860, CPUTimeNs: 1e9 - off, WallTimeNs: 1e9, OffCPUNs: off,
			MigrationCount: 2, MaxGapMs: 12, CPUsUsed: []int{0, 1}, Completed: true}
	}
	lat := make([]uint64, 1000)
	for i := range lat {
		lat[i] = uint64(2000 + i*i*5) // 2µs .. ~5ms, skewed to the low end
	}
	pp := workload.Report{Tid: 21, GroupIdx: 1, WorkUnits: 3_000_000, Iterations: 2900, CPUTimeNs: 4e8, WallTimeNs: 1e9, OffCPUNs: 6e8,
		MaxGapMs: 3, WakeLatenciesNs: lat, WakeSampleTotal: 2900, Completed: true}
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
		path := "testdata/" + tc.file
		if *update {
			os.WriteFile(path, buf.Bytes(), 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if buf.String() != string(want) {
			t.Errorf("%s differs:\n%s\nwant:\n%s", tc.file, buf.String(), want)
		}
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
	r = rows[1]
	if r.WakeSamples != 1000 || r.WakeTotal != 2900 || r.WakeP50Ns != 2000+499*499*5 || r.WakeP99Ns != 2000+989*989*5 || r.Completed != 1 {
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
