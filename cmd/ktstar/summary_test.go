package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/internal/golden"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
	"github.com/ktstar/ktstar/workload"
)

// fixedRuns is a run frozen in time: a spinning pair, a ping-pong pair
// with wake samples and a killed worker, and one spawn whose workers sit
// in two cgroups (as a scenario's do).
func fixedRuns() []starlib.Run {
	rep := func(tid int, cgroup string, off uint64, f func(*workload.Report)) workload.Report {
		r := workload.Report{Tid: tid, WorkUnits: 6_000_000, Iterations: 5860, CPUTimeNs: 1e9 - off, WallTimeNs: 1e9, OffCPUNs: off,
			MigrationCount: 2, CPUsUsed: []int{0, 1}, MaxGapMs: 12, Completed: true, Cgroup: cgroup}
		if f != nil {
			f(&r)
		}
		return r
	}
	lat := make([]uint64, 1000)
	for i := range lat {
		lat[i] = uint64(2000 + i*i*5) // 2µs .. ~5ms, skewed to the low end
	}
	withLat := func(l []uint64, total uint64) func(*workload.Report) {
		return func(r *workload.Report) {
			r.WakeLatenciesNs, r.WakeSampleTotal, r.SampleKind = l, total, workload.SampleWake
		}
	}
	run := func(seq int, work string, rs ...workload.Report) starlib.Run {
		label := work
		if seq == 3 {
			label += "#2"
		}
		return starlib.Run{Handle: seq, Label: label, Workload: starlib.WorkloadJSON{Workers: len(rs), Work: workload.MustWork(work, nil)}, Reports: rs}
	}
	return []starlib.Run{
		run(1, "SpinWait", rep(11, "/", 1e8, nil), rep(12, "/", 3e8, nil)),
		run(2, "FutexPingPong", rep(21, "/", 6e8, withLat(lat, 2900)),
			workload.Report{Tid: 22, ExitInfo: &workload.ExitInfo{Kind: workload.ExitSignaled, Signal: 9}, Cgroup: "/"}),
		run(3, "FutexPingPong", rep(31, "/ktstar-1/web", 5e8, withLat(lat[:500], 500)),
			rep(32, "/ktstar-1/db", 5e8, func(r *workload.Report) { withLat(lat[500:], 500)(r); r.MaxGapMs = 2500 })),
	}
}

// fixedDoc is a result of runs with a fixed header.
func fixedDoc(runs []starlib.Run) result.Doc {
	doc := result.Doc{Version: version, Script: "fixed.star", Args: []string{}, Repeat: 1,
		StartTime: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), DurationNs: 1_250_000_000,
		Host: result.Host{KernelRelease: "6.1.0-test", CPUCount: 2, CPUModel: "fixture"}, Runs: []result.Run{}}
	for _, r := range runs {
		// As a run stores them: ktstar summary shows these rows without
		// reading the samples, and computes the same from the reports
		// for --histogram.
		doc.Runs = append(doc.Runs, result.Run{Run: r, Groups: summary.Rows(r.Units())})
	}
	return doc
}

// TestSummaryGolden renders a saved result through the real binary
// (`ktstar summary`) with colour off: the table, the histograms, the
// check lines of two calls, and -q.
func TestSummaryGolden(t *testing.T) {
	runs := fixedRuns()
	doc := fixedDoc(runs)
	for i, a := range []checks.Assert{
		checks.Default().Merge(checks.Assert{"max_p99_wake_latency_ns": checks.Limit(1e6)}),
		{"max_gap_ms": checks.Limit(2000), "min_iteration_rate": checks.Limit(1)},
	} {
		res, err := checks.Evaluate(runs[i+1].Units(), a)
		if err != nil {
			t.Fatal(err)
		}
		doc.Checks = append(doc.Checks, result.Check{CheckCall: starlib.CheckCall{Call: fmt.Sprintf("fixed.star:%d:15", 3+i), Function: "checks.require", Verdict: res.Verdict(), Outcomes: res.Outcomes}})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "result.json")
	writeFile(t, saved, string(b))
	for _, tc := range []struct {
		file  string
		flags []string
	}{
		{"summary.golden", nil},
		{"summary_histogram.golden", []string{"--histogram"}},
		{"summary_quiet.golden", []string{"-q"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errs, code := ktstar(t, "", append(append([]string{"--color=never", "summary"}, tc.flags...), saved)...)
			if code != 0 || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
			}
			golden.Check(t, filepath.Join("testdata", tc.file), errs)
			if strings.Contains(errs, "\x1b[") {
				t.Error("escape codes with --color=never")
			}
		})
	}
}

// TestSampleKindLabels runs Bursty next to FutexPingPong: the summary and
// the JSON group rows say what each group's latency columns measure, a
// whole sleep for one and a one-way wake for the other.
func TestSampleKindLabels(t *testing.T) {
	s := script(t, `
a = spawn(workload(workers = 1, work = work.bursty(burst_duration = "1ms", sleep_duration = "5ms")))
b = spawn(workload(workers = 2, work = work.futex_ping_pong()))
a.start()
b.start()
sleep("200ms")
a.stop()
b.stop()
`)
	var doc result.Doc
	path, _, errs := runToJSON(t, "--color=never", s)
	readJSON(t, path, &doc)
	want := []workload.SampleKind{workload.SampleSleep, workload.SampleWake}
	if len(doc.Runs) != 2 {
		t.Fatalf("want 2 runs, got %d", len(doc.Runs))
	}
	for i, r := range doc.Runs {
		if len(r.Groups) != 1 || r.Groups[0].SampleKind != string(want[i]) {
			t.Errorf("run %d: groups %+v, want one of sample kind %q", i, r.Groups, want[i])
		}
	}
	for i, name := range []string{"Bursty", "FutexPingPong"} {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` .* ` + regexp.QuoteMeta(string(want[i])) + ` `).MatchString(errs) {
			t.Errorf("summary line of %s does not name %q samples:\n%s", name, want[i], errs)
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSummaryOfAnotherMachinesResult prints a result made in a two-node
// guest (testdata/guest_result.json) on this host: target_nodes = [1], a
// Custom function registered only there and an io_device that exists only
// there are data, checked before a spawn but never when a result is read.
// On a one-node host, summary used to exit 2 ("node 1 is not online").
func TestSummaryOfAnotherMachinesResult(t *testing.T) {
	out, errs, code := ktstar(t, "", "--color=never", "summary", filepath.Join("testdata", "guest_result.json"))
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	wantAll(t, "summary", errs, "#1 NumaWorkingSetSweep", "#2 Custom", "#3 IoRandRead")
}

// TestComposedGroupsEndToEnd runs a spawn with two composed groups: the
// reports carry group_idx 0..2, the summary prints one row per group
// named after its work, and a check fails only for the group that breaks
// it (a custom function that does no work).
func TestComposedGroupsEndToEnd(t *testing.T) {
	path := scriptWith(t, `
load("idle.star", "idle")
load("@stdlib//run.star", "wait_progress")
h = spawn(workload(workers = 2, composed = [
    workload(workers = 2, work = work.futex_ping_pong(), comm = "pp"),
    workload(workers = 1, work = work.custom("idle", idle)),
]))
h.start()
wait_progress(h, iterations = 5)
reports = h.stop()
print("groups", [r["group_idx"] for r in reports])
res = checks.evaluate(reports, not_starved = True, max_spread_pct = False, max_gap_ms = False)
print("outcomes", [(o["scope"], o["status"]) for o in res.outcomes])
`, map[string]string{"idle.star": `
def idle(ctx):
    while not ctx.stopped():
        ctx.sleep("1ms")
        ctx.tick()
    return {}
`})
	out, errOut, code := ktstar(t, "", "run", "--color", "never", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"groups [0, 0, 1, 1, 2]\n",
		`outcomes [("SpinWait group 0", "pass"), ("SpinWait group 1", "pass"), ("SpinWait group 2", "fail")]` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, row := range []string{"SpinWait group 0 SpinWait ", "SpinWait group 1 FutexPingPong ", "SpinWait group 2 idle "} {
		if strings.Count(errOut, row) != 1 {
			t.Errorf("summary has not exactly one row %q:\n%s", row, errOut)
		}
	}
}

// TestCustomContext runs a custom function that returns what its ctx
// says: the arg given at construction, the CPUs it may run on (its
// affinity), its siblings' pids and its cgroup directory, each checked
// against what the spawner knows.
func TestCustomContext(t *testing.T) {
	path := scriptWith(t, `
load("probe.star", "probe")
load("@stdlib//run.star", "wait_progress")
cpu = topo.cpus[-1]
h = spawn(workload(workers = 3, affinity = affinity.exact([cpu]), work = work.custom("probe", probe, arg = {"n": 7, "tags": ["a"]})))
h.start()
wait_progress(h, iterations = 2)
reports = h.stop()
for i, r in enumerate(reports):
    x = r["extra"]
    others = [p for j, p in enumerate(h.pids) if j != i]
    if x["arg"] != '{"n":7,"tags":["a"]}' or x["cpus"] != str([cpu]) or x["siblings"] != str(others):
        fail("worker %d: ctx %s, want cpus %s siblings %s" % (i, x, [cpu], others))
    print("cgroup", x["cgroup"])
`, map[string]string{"probe.star": `
def probe(ctx):
    while not ctx.stopped():
        ctx.spin()
        ctx.tick()
    return {"arg": json.encode(ctx.arg), "cpus": str(ctx.cpus), "siblings": str(ctx.siblings), "cgroup": ctx.cgroup}
`})
	out, errOut, code := ktstar(t, "", "run", "--quiet", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	want := "" // no cgroup v2 here
	if m, err := cgroupfs.FindMount(); err == nil {
		rel, err := cgroupfs.ProcCgroup(0) // the workers stay in ours
		if err != nil {
			t.Fatal(err)
		}
		want = filepath.Join(m.Point, rel)
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); len(got) != 3 || got[0] != "cgroup "+want || got[1] != got[0] || got[2] != got[0] {
		t.Errorf("ctx.cgroup of the 3 workers:\n%s\nwant %q each", out, want)
	}
}
