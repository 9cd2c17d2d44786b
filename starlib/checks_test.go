package starlib_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// TestReportRoundTrip converts reports to dicts and back: every field
// survives, and the wake latencies are the same Go slice, not a copy.
func TestReportRoundTrip(t *testing.T) {
	in := []workload.Report{{
		Tid: 7, GroupIdx: 1, WorkUnits: 1 << 40, Iterations: 3, CPUTimeNs: 4, WallTimeNs: 5, OffCPUNs: 1,
		MigrationCount: 1, Migrations: []workload.Migration{{AtNs: 9, FromCPU: 0, ToCPU: 1}}, CPUsUsed: []int{0, 1},
		MaxGapMs: 12, MaxGapCPU: 1, MaxGapAtMs: 40, WakeLatenciesNs: []uint64{5, 6, 7}, WakeSampleTotal: 30,
		SchedstatCPUTimeNs: 1, SchedstatRunDelayNs: 2, SchedstatRunCount: 3,
		NumaPages: map[int]uint64{0: 10, 1: 20}, VmstatNumaPagesMigrated: 4, Completed: true,
		ExitInfo: &workload.ExitInfo{Kind: workload.ExitSignaled, Signal: 9}, IsMessenger: true,
		AffinityError: "x", Cgroup: "/k/web", LoopAllocs: 2, Counters: map[string]uint64{"bytes": 8},
	}, {Tid: 8}}
	list := starlib.Reports(in)
	for i := range in {
		got, err := starlib.ReportOf(list.Index(i), "r")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in[i]) {
			t.Errorf("report %d:\n got %+v\nwant %+v", i, got, in[i])
		}
	}
	got, _ := starlib.ReportOf(list.Index(0), "r")
	if &got.WakeLatenciesNs[0] != &in[0].WakeLatenciesNs[0] {
		t.Error("wake latencies were copied")
	}
}

// TestReportOfFields converts one report field of each kind from a
// script's dict, and checks the error text of a value of the wrong type or
// out of range.
func TestReportOfFields(t *testing.T) {
	for _, tc := range []struct {
		key  string
		v    starlark.Value
		want string // the field, printed, when the conversion succeeds
		err  string // "" when the conversion must succeed
	}{
		{"tid", starlark.MakeInt(-3), "-3", ""},
		{"tid", starlark.String("3"), "", `r["tid"]: want an int, got string`},
		{"tid", starlark.MakeUint64(1 << 63), "", `r["tid"]: 9223372036854775808 is out of range`},
		{"work_units", starlark.MakeUint64(1 << 63), "9223372036854775808", ""},
		{"work_units", starlark.MakeInt(-1), "", `r["work_units"]: -1 is out of range (allowed: 0 or more)`},
		{"completed", starlark.True, "true", ""},
		{"completed", starlark.MakeInt(1), "", `r["completed"]: want True or False, got int`},
		{"cgroup", starlark.String("g"), "g", ""},
		{"cgroup", starlark.MakeInt(1), "", `r["cgroup"]: want a string, got int`},
		{"cpus_used", starlark.NewList([]starlark.Value{starlark.MakeInt(2)}), "[2]", ""},
		{"cpus_used", starlark.MakeInt(2), "", `r["cpus_used"]: want a list, got int`},
		{"cpus_used", starlark.NewList([]starlark.Value{starlark.Float(2)}), "", `r["cpus_used"][0]: want an int, got float`},
	} {
		d := starlark.NewDict(1)
		d.SetKey(starlark.String(tc.key), tc.v)
		r, err := starlib.ReportOf(d, "r")
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s = %s: err %v, want %q", tc.key, tc.v, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s = %s: %v", tc.key, tc.v, err)
		}
		if tc.err != "" {
			continue
		}
		field := map[string]any{"tid": r.Tid, "work_units": r.WorkUnits, "completed": r.Completed,
			"cgroup": r.Cgroup, "cpus_used": r.CPUsUsed}[tc.key]
		if got := fmt.Sprint(field); got != tc.want {
			t.Errorf("%s = %s: field %s, want %s", tc.key, tc.v, got, tc.want)
		}
	}
}

// TestChecksRecorded checks that the session keeps every evaluate and
// require call, and that a failed require is a FailError (exit status 1).
func TestChecksRecorded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.star")
	writeFile(t, path, `
bad = [{"tid": 1, "work_units": 0}, {"tid": 2, "work_units": 5}]
checks.evaluate(bad, max_gap_ms = 100)
checks.require(bad, not_starved = True, max_spread_pct = False, max_gap_ms = False)
`)
	sess := starlib.NewSession(starlib.Options{})
	_, err := runSession(t, sess, path)
	var fe *starlib.FailError
	if !errors.As(err, &fe) || fe.By != "checks.require" {
		t.Fatalf("err = %v, want a FailError of checks.require", err)
	}
	calls := sess.Checks()
	if len(calls) != 2 || calls[0].Function != "checks.evaluate" || calls[1].Function != "checks.require" {
		t.Fatalf("calls: %+v", calls)
	}
	if calls[0].Call != path+":3:16" || calls[0].Verdict != "pass" || calls[1].Verdict != "fail" || calls[1].Outcomes[0].Worst.Tid != 1 {
		t.Errorf("calls: %+v", calls)
	}
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}
