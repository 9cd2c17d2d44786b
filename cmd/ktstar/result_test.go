package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/result"
)

// labelScript spawns into two cgroups (as a scenario step does), twice
// the same work type without a cgroup, and once with an explicit label.
const labelScript = `
load("@stdlib//scenario.star", "backdrop", "op", "scenario", "step")
cfg = workload(workers = 1, work = work.spin_wait())
res = scenario(
    duration = "200ms",
    backdrop = backdrop(ops = [op.add_cgroup("web"), op.add_cgroup("db")]),
    steps = [step(ops = [op.spawn("web", cfg), op.spawn("db", cfg)])],
)
for c in [cfg, cfg, workload(workers = 1, label = "batch")]:
    h = spawn(c)
    h.start()
    sleep("50ms")
    h.stop()
`

// runJSON runs a script through the real binary with --json and reads
// the result back.
func runJSON(t *testing.T, src string, flags ...string) (*result.Doc, string) {
	t.Helper()
	path, _, errs := runToJSON(t, append(append([]string{"--color=never"}, flags...), script(t, src))...)
	doc, err := result.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return doc, errs
}

func rowLabels(doc *result.Doc) []string {
	var out []string
	for _, r := range doc.Runs {
		for _, g := range r.Groups {
			out = append(out, g.Label)
		}
	}
	return out
}

// TestStableLabels runs one script twice: the label sets are the same,
// a scenario's rows are named by their cgroups, repeated spawns of one
// type are numbered, and the summary prints the labels.
func TestStableLabels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("scenario cgroups need root")
	}
	if _, err := cgroupfs.Default(); err != nil {
		t.Skipf("no cgroup v2 hierarchy: %v", err)
	}
	first, errs := runJSON(t, labelScript)
	second, _ := runJSON(t, labelScript)
	want := []string{"web", "db", "SpinWait", "SpinWait#2", "batch"}
	for _, doc := range []*result.Doc{first, second} {
		got := rowLabels(doc)
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("labels %q, want %q", got, w)
		}
	}
	for _, l := range want {
		if !strings.Contains(errs, "\n  "+l+" ") {
			t.Errorf("the summary has no row %q:\n%s", l, errs)
		}
	}
}

// TestRepeat runs a script three times in one invocation: three
// repetitions in --json, each with its own spawns, and medians in the
// summary.
func TestRepeat(t *testing.T) {
	doc, errs := runJSON(t, `
h = spawn(workload(workers = 2, work = work.futex_ping_pong()))
h.start()
sleep("100ms")
checks.evaluate(h.stop(), max_gap_ms = 5000)
`, "--repeat", "3")
	if doc.Repeat != 3 || len(doc.Repetitions) != 3 || len(doc.Runs) != 3 || len(doc.Checks) != 3 {
		t.Fatalf("repeat %d, %d repetitions, %d runs, %d checks; want 3 each", doc.Repeat, len(doc.Repetitions), len(doc.Runs), len(doc.Checks))
	}
	pids := map[int]bool{}
	for i, r := range doc.Runs {
		if r.Repetition != i || r.Label != "FutexPingPong" {
			t.Errorf("run %d: repetition %d, label %q", i, r.Repetition, r.Label)
		}
		for _, rep := range r.Reports {
			if pids[rep.Tid] {
				t.Errorf("worker %d reported in two repetitions: spawns must be fresh", rep.Tid)
			}
			pids[rep.Tid] = true
		}
	}
	if !strings.Contains(errs, "group (medians)") || !strings.Contains(errs, "reps") ||
		!strings.Contains(errs, "repetition 3, checks.evaluate at ") {
		t.Errorf("summary without medians over 3 repetitions:\n%s", errs)
	}
	if _, errs, code := ktstar(t, "", "--repeat", "0", "x.star"); code != 2 || !strings.Contains(errs, "--repeat=0: want 1 to") {
		t.Errorf("--repeat 0: exit %d, %s", code, errs)
	}
	// A failed check is a measurement: every repetition runs, exit 1. A
	// script error ends the repetitions at once, exit 2.
	for _, tc := range []struct {
		src       string
		code, rep int
	}{
		{"h = spawn(workload(workers = 1))\nh.start()\nsleep(\"50ms\")\nchecks.require(h.stop(), min_iteration_rate = 1e15)\n", 1, 3},
		{"x = 1 // 0\n", 2, 1},
	} {
		path := filepath.Join(t.TempDir(), "out.json")
		_, errs, code := ktstar(t, "", "--repeat", "3", "--json", path, script(t, tc.src))
		doc, err := result.Read(path)
		if code != tc.code || err != nil || doc.Repeat != tc.rep || len(doc.Repetitions) != tc.rep || doc.ExitStatus != tc.code ||
			doc.Repetitions[tc.rep-1].ExitStatus != tc.code {
			t.Errorf("%q: exit %d, %v, %+v; want exit %d after %d repetitions\n%s", tc.src, code, err, doc, tc.code, tc.rep, errs)
		}
	}
}

// TestTimeline runs a spawn for 3s sampled every 500ms: each worker has
// 6 ± 1 samples, in time order and never decreasing.
func TestTimeline(t *testing.T) {
	doc, _ := runJSON(t, `
h = spawn(workload(workers = 2))
h.start()
sleep("3s")
h.stop()
`, "--interval", "500ms")
	tl := doc.Runs[0].Timeline
	if tl == nil || tl.IntervalNs != 500e6 {
		t.Fatalf("timeline %+v", tl)
	}
	// One sample per 500ms the workers ran: 6 ± 1 over 3s, however late
	// a loaded host ran the sampler or the script.
	want := int(doc.Runs[0].Reports[0].WallTimeNs / 500e6)
	if n := len(tl.TNs); n < 5 || n < want-1 || n > want+1 {
		t.Errorf("%d samples over %.1fs at 500ms, want %d ± 1 (6 ± 1 over 3s)", n, float64(doc.Runs[0].Reports[0].WallTimeNs)/1e9, want)
	}
	if len(tl.Iterations) != 2 {
		t.Fatalf("%d workers' series, want 2", len(tl.Iterations))
	}
	for w, s := range tl.Iterations {
		if len(s) != len(tl.TNs) || !slices.IsSorted(s) || s[len(s)-1] == 0 {
			t.Errorf("worker %d: series %v against %d times", w, s, len(tl.TNs))
		}
	}
	if !slices.IsSorted(tl.TNs) {
		t.Errorf("times out of order: %v", tl.TNs)
	}
}

// TestSummaryRefusesNonResults: what is not a ktstar result (an empty
// object, a truncated file, an empty file, another JSON) exits 2 saying
// why; several results print one after another, each under its header.
func TestSummaryRefusesNonResults(t *testing.T) {
	dir := t.TempDir()
	doc := fixedDoc(fixedRuns())
	b := mustJSON(t, doc)
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, string(b))
	for _, tc := range []struct{ name, content, want string }{
		{"empty-object", "{}", "no ktstar_version"},
		{"truncated", string(b[:len(b)/2]), "the JSON ends early (a truncated file?)"},
		{"empty", "", "the file is empty"},
		{"array", "[1, 2]", "the JSON is a array, want an object"},
		{"no-runs", `{"ktstar_version": "0.1"}`, "no runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			writeFile(t, p, tc.content)
			out, errs, code := ktstar(t, "", "summary", good, p)
			if code != 2 || out != "" || !strings.Contains(errs, p+": not a ktstar result: ") || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
	_, errs, code := ktstar(t, "", "--color=never", "summary", good, good)
	if code != 0 || strings.Count(errs, "fixed.star · kernel 6.1.0-test, 2 CPUs · 2026-12-01 10:00:00 UTC · 1.25s\n") != 2 ||
		strings.Count(errs, good+":\n") != 2 {
		t.Errorf("two files: exit %d:\n%s", code, errs)
	}
}
