package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ktstar/ktstar/vm"
)

func TestProfiles(t *testing.T) {
	flags := []Flag{
		{Name: "llc", Args: []string{"--enable-llc"}},
		{Name: "steal", Args: []string{"--steal"}, Requires: []string{"llc"}},
		{Name: "borrow", Args: []string{"--borrow", "1"}},
	}
	ps, err := Profiles(flags)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	// 2^3 subsets less the two with steal but not llc, as ktstr counts.
	want := []string{"default", "llc", "borrow", "llc+steal", "llc+borrow", "llc+steal+borrow"}
	if !slices.Equal(names, want) {
		t.Errorf("profiles %v, want %v", names, want)
	}
	if got := ps[5].Args; !slices.Equal(got, []string{"--enable-llc", "--steal", "--borrow", "1"}) {
		t.Errorf("llc+steal+borrow args %q", got)
	}
	if ps[0].Args != nil || ps[0].Flags != nil {
		t.Errorf("default profile %+v, want no flags", ps[0])
	}
	for _, tc := range []struct {
		flags []Flag
		err   string
	}{
		{[]Flag{{Name: "a", Requires: []string{"b"}}}, `flag a requires "b", which is not another flag (flags: a)`},
		{[]Flag{{Name: "a", Requires: []string{"a"}}}, `flag a requires "a", which is not another flag`},
		{[]Flag{{Name: "a"}, {Name: "a"}}, `flag "a" given twice`},
		{[]Flag{{Name: "a+b"}}, `flag "a+b": want letters`},
		{[]Flag{{Name: "default"}}, `flag "default": want letters`},
		{make13Flags(), "13 flags: want at most 12"},
	} {
		if _, err := Profiles(tc.flags); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Profiles(%v) error %v, want %q", tc.flags, err, tc.err)
		}
	}
}

func make13Flags() []Flag {
	var out []Flag
	for i := range 13 {
		out = append(out, Flag{Name: fmt.Sprintf("f%d", i)})
	}
	return out
}

// parseCase is one argument to a parser: the value it must yield, or a
// piece of the error it must return.
type parseCase[T any] struct {
	in   string
	want T
	err  string
}

// checkParse runs parse (called name in messages) over cases.
func checkParse[T any](t *testing.T, name string, parse func(string) (T, error), cases []parseCase[T]) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s(%q) error %v, want %q", name, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s(%q) = %+v, %v; want %+v", name, tc.in, got, err, tc.want)
		}
	}
}

func TestParseScenarioAndKernel(t *testing.T) {
	checkParse(t, "ParseScenario", ParseScenario, []parseCase[Scenario]{
		{in: "examples/cpu.star", want: Scenario{Name: "cpu", Script: "examples/cpu.star"}},
		{in: "./x", want: Scenario{Name: "x", Script: "./x"}},
		{in: "cgroup_steady", want: Scenario{Name: "cgroup_steady", Catalog: "cgroup_steady"}},
		{in: "bad name", err: `scenario "bad name": want a SCRIPT.star or a catalog entry's name`},
		{in: "dir/my script.star", err: `the file name "my script" is not a label`},
	})
	checkParse(t, "ParseKernel", ParseKernel, []parseCase[Kernel]{
		{in: "/k/6.12-scx/bzImage", want: Kernel{Label: "6.12-scx", Path: "/k/6.12-scx/bzImage"}},
		{in: "/boot/vmlinuz-6.1.0-57-cloud-amd64", want: Kernel{Label: "boot", Path: "/boot/vmlinuz-6.1.0-57-cloud-amd64"}},
		{in: "/k/my kernel", want: Kernel{Label: "my_kernel", Path: "/k/my kernel"}},
		{in: "new=/k/bzImage", want: Kernel{Label: "new", Path: "/k/bzImage"}},
		{in: "default=/k/bzImage", err: `want PATH or LABEL=PATH`},
		{in: "a/b=/k", err: `want PATH or LABEL=PATH`},
		{in: "x=", err: `want PATH or LABEL=PATH`},
	})
}

// testMatrix is 3 scenarios × 2 presets × 2 profiles × 2 kernels.
func testMatrix(t *testing.T) Matrix {
	t.Helper()
	var m Matrix
	for _, s := range []string{"a.star", "b.star", "steady"} {
		sc, err := ParseScenario(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Scenarios = append(m.Scenarios, sc)
	}
	for _, p := range []string{"tiny-1llc", "1n2l2c1t"} {
		pr, err := vm.ParsePreset(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Presets = append(m.Presets, pr)
	}
	m.Profiles, _ = Profiles([]Flag{{Name: "llc"}})
	m.Kernels = []Kernel{{Label: "old", Path: "/k/old"}, {Label: "new", Path: "/k/new"}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCells(t *testing.T) {
	m := testMatrix(t)
	cells := m.Cells()
	if len(cells) != 24 {
		t.Fatalf("%d cells, want 24", len(cells))
	}
	if got := cells[0].Key(); got != "a/tiny-1llc/default/old" {
		t.Errorf("first cell %s", got)
	}
	if got := cells[23].Key(); got != "steady/1n2l2c1t/llc/new" {
		t.Errorf("last cell %s", got)
	}
	keys := map[string]bool{}
	for _, c := range cells {
		keys[c.Key()] = true
		back, err := ParseKey(c.Key())
		if err != nil || back != c {
			t.Errorf("ParseKey(%s) = %+v, %v", c.Key(), back, err)
		}
		s, p, pr, k, err := m.Lookup(c)
		if err != nil || s.Name != c.Scenario || p.Label() != c.Preset || pr.Name != c.Profile || k.Label != c.Kernel {
			t.Errorf("Lookup(%s) = %v %v %v %v, %v", c.Key(), s, p, pr, k, err)
		}
	}
	if len(keys) != 24 {
		t.Errorf("%d distinct keys, want 24", len(keys))
	}
	if _, _, _, _, err := m.Lookup(Cell{"a", "tiny-1llc", "steal", "old"}); err == nil {
		t.Error("Lookup of a profile not in the matrix succeeded")
	}
	for _, k := range []string{"a/b/c", "a/../c/d", "a/b/c/d/e", "a/ b/c/d"} {
		if _, err := ParseKey(k); err == nil {
			t.Errorf("ParseKey(%q) succeeded", k)
		}
	}
	dup := m
	dup.Scenarios = append(slices.Clone(m.Scenarios), Scenario{Name: "a", Script: "other/a.star"})
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), `scenario "a" twice (a.star and other/a.star)`) {
		t.Errorf("duplicate scenario: %v", err)
	}
}

// TestShardsCover: for every count, the shards' cells are disjoint and
// together the whole matrix, and a shard's cells are the same each time.
func TestShardsCover(t *testing.T) {
	cells := testMatrix(t).Cells()
	for n := 1; n <= 7; n++ {
		seen := map[Cell]int{}
		for i := range n {
			sel := Shard{Index: i, Count: n}.Select(cells)
			if again := (Shard{Index: i, Count: n}).Select(cells); !slices.Equal(sel, again) {
				t.Errorf("shard %d/%d differs between calls", i, n)
			}
			if len(sel) < len(cells)/n || len(sel) > len(cells)/n+1 {
				t.Errorf("shard %d/%d has %d of %d cells: unbalanced", i, n, len(sel), len(cells))
			}
			for _, c := range sel {
				seen[c]++
			}
		}
		for _, c := range cells {
			if seen[c] != 1 {
				t.Errorf("count %d: cell %s in %d shards", n, c.Key(), seen[c])
			}
		}
	}
}

func TestShardParse(t *testing.T) {
	checkParse(t, "ParseShard", ParseShard, []parseCase[Shard]{
		{in: "0/3", want: Shard{0, 3}},
		{in: "2/3", want: Shard{2, 3}},
		{in: "3/3", err: `--shard 3/3: index "3" of count "3": want a count of at least 1 and an index 0..count-1`},
		{in: "0/0", err: "want a count of at least 1"},
		{in: "-1/2", err: "want a count of at least 1"},
		{in: "1", err: `--shard "1": want INDEX/COUNT`},
	})
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		count int
		want  Shard
		ok    bool
		err   string
	}{
		{"none", nil, 0, Whole, false, ""},
		{"kubernetes", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 3, Shard{2, 3}, true, ""},
		{"kubernetes without a count", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 0, Shard{}, true, "JOB_COMPLETION_INDEX=2: the task count is unknown: give it with --shard-count"},
		{"kubernetes past the count", map[string]string{"JOB_COMPLETION_INDEX": "3"}, 3, Shard{}, true, "index 0..count-1"},
		{"slurm", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, 0, Shard{1, 4}, true, ""},
		{"slurm from 1", map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}, 0, Shard{3, 4}, true, ""},
		{"slurm with a count given", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, 2, Shard{1, 2}, true, ""},
		{"gitlab counts from 1", map[string]string{"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "2"}, 0, Shard{0, 2}, true, ""},
		{"gitlab 0", map[string]string{"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "2"}, 0, Shard{}, true, "index 1..count"},
		{"circleci", map[string]string{"CIRCLE_NODE_INDEX": "1", "CIRCLE_NODE_TOTAL": "2"}, 0, Shard{1, 2}, true, ""},
		{"buildkite", map[string]string{"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "5"}, 0, Shard{0, 5}, true, ""},
		{"not a number", map[string]string{"JOB_COMPLETION_INDEX": "x"}, 3, Shard{}, true, `JOB_COMPLETION_INDEX=x: index "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from, ok, err := FromEnv(func(k string) string { return tc.env[k] }, tc.count)
			if ok != tc.ok {
				t.Fatalf("ok = %v (from %q), want %v", ok, from, tc.ok)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FromEnv = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// fakeRunner stands in for guests (the set logic needs none): each cell
// "passes" unless its scenario is b (a failed check) or its preset is
// 1n2l2c1t with scenario steady (a skip), and writes a small result.
type fakeRunner struct {
	mu    sync.Mutex
	calls []string
	// cancelAfter, when positive, cancels the run's context once that
	// many cells have started, as a kill half-way would.
	cancelAfter int
	cancel      context.CancelFunc
}

func (f *fakeRunner) run(ctx context.Context, c Cell, resultPath string, log io.Writer) (Outcome, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.Key())
	n := len(f.calls)
	f.mu.Unlock()
	if f.cancelAfter > 0 && n > f.cancelAfter {
		f.cancel()
		<-ctx.Done()
		os.WriteFile(resultPath, []byte(`{"half":`), 0o644) // a half-written result
		return Outcome{}, ctx.Err()
	}
	fmt.Fprintf(log, "running %s\n", c.Key())
	code, stdout := 0, ""
	res := `{"duration_ns": 1000, "checks": []}`
	switch {
	case c.Scenario == "b":
		code = 1
		res = `{"duration_ns": 1000, "checks": [{"outcomes": [{"check": "not_starved", "scope": "web", "status": "fail", "observed": 0, "detail": "starved"}]}]}`
	case c.Scenario == "steady" && c.Preset == "1n2l2c1t":
		stdout = "catalog: steady: skip: needs 3 LLCs\n"
	}
	if err := os.WriteFile(resultPath, []byte(res), 0o644); err != nil {
		return Outcome{}, err
	}
	return judge(code, resultPath, stdout, ""), nil
}

func execute(t *testing.T, dir string, m Matrix, s Shard, f *fakeRunner, jobs int) error {
	t.Helper()
	res, err := Prepare(dir, NewManifest("test", m, s))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.cancel = cancel
	return Execute(ctx, Options{Results: res, Cells: s.Select(m.Cells()), Shard: s, Jobs: jobs, Run: f.run})
}

// TestExecuteResume: a run cancelled half-way keeps exactly the cells
// that ended; running again runs only the others, and the index then
// lists every cell once, in order.
func TestExecuteResume(t *testing.T) {
	m := testMatrix(t)
	dir := t.TempDir()
	first := &fakeRunner{cancelAfter: 10}
	if err := execute(t, dir, m, Whole, first, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 10 {
		t.Fatalf("%d records after the cancel, want the 10 cells that ended", len(r.Records))
	}
	partial, _ := filepath.Glob(filepath.Join(dir, CellsDir, "*", "*", "*", "*.partial"))
	if len(partial) != 0 {
		t.Errorf("partial files left: %v", partial)
	}
	second := &fakeRunner{}
	var last Progress
	res, _ := Prepare(dir, NewManifest("test", m, Whole))
	err = Execute(context.Background(), Options{Results: res, Cells: m.Cells(), Shard: Whole, Jobs: 3, Run: second.run,
		Progress: func(p Progress) { last = p }})
	res.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(second.calls) != 14 {
		t.Errorf("the rerun ran %d cells, want the 14 missing", len(second.calls))
	}
	for _, k := range second.calls {
		if _, done := r.Records[k]; done {
			t.Errorf("the rerun ran %s again", k)
		}
	}
	if last.Total != 24 || last.Done != 24 || last.Resumed != 10 || last.Passed != 12 || last.Failed != 8 || last.Skipped != 4 || len(last.Running) != 0 {
		t.Errorf("final progress %+v", last)
	}
	recs, err := ReadIndex(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, rec := range recs {
		keys = append(keys, rec.Key)
	}
	var want []string
	for _, c := range m.Cells() {
		want = append(want, c.Key())
	}
	if !slices.Equal(keys, want) {
		t.Errorf("index keys\n%v\nwant\n%v", keys, want)
	}
	b := recs[slices.Index(keys, "b/tiny-1llc/default/old")]
	if b.Status != Fail || b.Short() != "FAIL not_starved" || b.Result != "cells/b/tiny-1llc/default/old.json" || b.ScenarioNs != 1000 {
		t.Errorf("b's record %+v", b)
	}
	if log, err := os.ReadFile(filepath.Join(dir, b.Log)); err != nil || string(log) != "running b/tiny-1llc/default/old\n" {
		t.Errorf("b's log %q, %v", log, err)
	}
	// Rerunning the failed cells runs those and nothing else.
	again := &fakeRunner{}
	res, _ = Prepare(dir, NewManifest("test", m, Whole))
	err = Execute(context.Background(), Options{Results: res, Cells: m.Cells(), Shard: Whole, Jobs: 2, Run: again.run, Rerun: []string{Fail}})
	res.Close()
	if err != nil || len(again.calls) != 8 {
		t.Errorf("--rerun fail ran %d cells, want b's 8: %v", len(again.calls), err)
	}
	for _, k := range again.calls {
		if !strings.HasPrefix(k, "b/") {
			t.Errorf("--rerun fail ran %s", k)
		}
	}
	// A third run has nothing left to do.
	third := &fakeRunner{}
	if err := execute(t, dir, m, Whole, third, 2); err != nil || len(third.calls) != 0 {
		t.Errorf("third run: %d cells, %v", len(third.calls), err)
	}
	if _, err := Prepare(dir, NewManifest("test", m, Shard{0, 2})); err == nil || !strings.Contains(err.Error(), "hold another matrix or shard") {
		t.Errorf("a different shard into the same directory: %v", err)
	}
	// While one run holds the directory, a second is refused; once it
	// closes, the directory is free again.
	held, err := Prepare(dir, NewManifest("test", m, Whole))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(dir, NewManifest("test", m, Whole)); err == nil || !strings.Contains(err.Error(), "in use by another gauntlet") {
		t.Errorf("a second run on a held directory: %v", err)
	}
	held.Close()
	if again, err := Prepare(dir, NewManifest("test", m, Whole)); err != nil {
		t.Errorf("after Close: %v", err)
	} else {
		again.Close()
	}
}

// TestMergeShards: three shards run apart and merged hold exactly the
// cells of one unsharded run, with their files.
func TestMergeShards(t *testing.T) {
	m := testMatrix(t)
	root := t.TempDir()
	whole := filepath.Join(root, "whole")
	if err := execute(t, whole, m, Whole, &fakeRunner{}, 2); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := range 3 {
		d := filepath.Join(root, fmt.Sprintf("shard%d", i))
		if err := execute(t, d, m, Shard{i, 3}, &fakeRunner{}, 1); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	merged := filepath.Join(root, "merged")
	notes, err := Merge(merged, dirs)
	if err != nil || len(notes) != 0 {
		t.Fatalf("Merge: %v %v", notes, err)
	}
	a, _ := Open(whole)
	b, err := Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Records) != 24 || len(b.Records) != 24 {
		t.Fatalf("%d and %d records, want 24", len(a.Records), len(b.Records))
	}
	for k, ra := range a.Records {
		rb, ok := b.Records[k]
		if !ok || ra.Status != rb.Status || ra.Reason != rb.Reason {
			t.Errorf("%s: whole %+v, merged %+v", k, ra, rb)
		}
		if _, err := os.Stat(filepath.Join(merged, rb.Result)); err != nil {
			t.Errorf("%s: merged result: %v", k, err)
		}
	}
	if _, err := Merge(merged, dirs); err == nil || !strings.Contains(err.Error(), "already holds gauntlet results") {
		t.Errorf("merge into a results directory: %v", err)
	}
	// A shard's cells run twice: the later one wins, and the note says so.
	notes, err = Merge(filepath.Join(root, "again"), []string{whole, dirs[0]})
	if err != nil || len(notes) != 8 || !strings.Contains(notes[0], "keeping "+dirs[0]+"'s") {
		t.Errorf("overlapping merge: %d notes %q, %v", len(notes), notes, err)
	}
	other := m
	other.Presets = m.Presets[:1]
	od := filepath.Join(root, "other")
	if err := execute(t, od, other, Whole, &fakeRunner{}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(filepath.Join(root, "bad"), []string{whole, od}); err == nil || !strings.Contains(err.Error(), "is of another matrix") {
		t.Errorf("merge of two matrices: %v", err)
	}
}

// TestOpenRefusesForeignPaths: a record naming a file outside its cell
// is refused, so Merge never copies from or to elsewhere.
func TestOpenRefusesForeignPaths(t *testing.T) {
	dir := t.TempDir()
	m := testMatrix(t)
	res, err := Prepare(dir, NewManifest("test", m, Whole))
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	c := m.Cells()[0]
	if err := WriteRecord(dir, Record{Cell: c, Key: c.Key(), Status: Pass, Result: "../../../etc/passwd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), `result "../../../etc/passwd"`) {
		t.Errorf("Open: %v", err)
	}
}

func TestWriteMatrix(t *testing.T) {
	m := testMatrix(t)
	m.Kernels, m.Profiles = nil, nil
	dir := t.TempDir()
	f := &fakeRunner{}
	if err := execute(t, dir, m, Shard{0, 2}, f, 1); err != nil {
		t.Fatal(err)
	}
	r, _ := Open(dir)
	var b strings.Builder
	if err := r.WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	want := `SCENARIO  tiny-1llc         1n2l2c1t
a         pass              -
b         FAIL not_starved  -
steady    pass              -
b/tiny-1llc/default/default: fail: not_starved [web]: FAIL, observed 0 : starved
6 cells: 2 passed, 1 failed, 0 skipped, 0 errors, 3 not run
`
	if got := b.String(); got != want {
		t.Errorf("matrix:\n%s\nwant:\n%s", got, want)
	}
}

// TestScenarioFlags: a scenario that requires or excludes flags runs
// under the profiles that fit, as ktstr's required_flags and
// excluded_flags filter its gauntlet; the matrix has no row for the rest.
func TestScenarioFlags(t *testing.T) {
	m := testMatrix(t)
	m.Kernels = nil
	m.Profiles, _ = Profiles([]Flag{{Name: "llc"}, {Name: "borrow"}})
	m.Scenarios[0].Requires = []string{"llc"}
	m.Scenarios[1].Excludes = []string{"borrow"}
	count := map[string][]string{}
	for _, c := range m.Cells() {
		if c.Preset == "tiny-1llc" {
			count[c.Scenario] = append(count[c.Scenario], c.Profile)
		}
	}
	want := map[string][]string{"a": {"llc", "llc+borrow"}, "b": {"default", "llc"}, "steady": {"default", "llc", "borrow", "llc+borrow"}}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("profiles per scenario %v, want %v", count, want)
	}
	dir := t.TempDir()
	if err := execute(t, dir, m, Whole, &fakeRunner{}, 2); err != nil {
		t.Fatal(err)
	}
	r, _ := Open(dir)
	var b strings.Builder
	r.WriteMatrix(&b)
	rows := strings.Split(b.String(), "\n")
	if got := len(slices.DeleteFunc(rows, func(l string) bool { return !strings.HasPrefix(l, "a ") })); got != 2 {
		t.Errorf("%d rows for a, want 2 (its two profiles):\n%s", got, b.String())
	}
	if !strings.Contains(b.String(), "b         default     FAIL not_starved  FAIL not_starved\nb         llc ") {
		t.Errorf("rows not in the profiles' order:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "16 cells: 8 passed, 4 failed, 4 skipped, 0 errors, 0 not run") {
		t.Errorf("matrix:\n%s", b.String())
	}
}

func TestJudge(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "r.json")
	for _, tc := range []struct {
		name           string
		code           int
		result         string // "" writes none
		stdout, stderr string
		want           Outcome
	}{
		{"pass", 0, `{"duration_ns": 5}`, "hi\n", "", Outcome{Status: Pass, ScenarioNs: 5}},
		{"skip", 0, `{"duration_ns": 5}`, "catalog: x: skip: needs 2 NUMA nodes\n", "", Outcome{Status: Skip, Reason: "needs 2 NUMA nodes", ScenarioNs: 5}},
		{"fail()", 1, `{"duration_ns": 5, "error": "fail: too slow"}`, "", "x.star:1: fail: too slow\n", Outcome{Status: Fail, ExitStatus: 1, Reason: "fail: too slow", ScenarioNs: 5}},
		{"fail without result", 1, "", "", "first\nlast line\n", Outcome{Status: Fail, ExitStatus: 1, Reason: "last line"}},
		{"script error", 2, `{"duration_ns": 5, "error": "x.star:3:1: undefined: y"}`, "", "", Outcome{Status: Error, ExitStatus: 2, Reason: "x.star:3:1: undefined: y", ScenarioNs: 5}},
		{"signal", 143, "", "", "", Outcome{Status: Error, ExitStatus: 143, Reason: "exit status 143"}},
		{"bad result", 0, `{"dur`, "", "", Outcome{Status: Error, Reason: "the cell's result is not JSON: unexpected end of JSON input"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(res)
			if tc.result != "" {
				if err := os.WriteFile(res, []byte(tc.result), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := judge(tc.code, res, tc.stdout, tc.stderr); got != tc.want {
				t.Errorf("judge = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGuestUnmet: a cell whose scenario cannot run on its preset is
// skipped with the reason and no guest (the QEMU here does not exist).
func TestGuestUnmet(t *testing.T) {
	m := testMatrix(t)
	g := &Guest{Matrix: m, Base: vm.Options{QEMU: "/nonexistent/qemu"}, // nothing boots
		Unmet: func(s Scenario, p vm.Preset) string {
			if p.LLCs < 2 {
				return "needs 2 LLCs"
			}
			return ""
		}}
	var log strings.Builder
	out, err := g.Run(context.Background(), Cell{"steady", "tiny-1llc", "default", "old"}, filepath.Join(t.TempDir(), "r.json"), &log)
	if err != nil || out != (Outcome{Status: Skip, Reason: "needs 2 LLCs"}) {
		t.Errorf("Run = %+v, %v", out, err)
	}
	if !strings.Contains(log.String(), "steady cannot run on tiny-1llc (1n1l4c1t): needs 2 LLCs; no guest booted") {
		t.Errorf("log %q", log.String())
	}
	// A preset it can run on goes to the guest, which fails here (no script, no kernel).
	out, err = g.Run(context.Background(), Cell{"a", "1n2l2c1t", "default", "old"}, filepath.Join(t.TempDir(), "r.json"), &log)
	if err != nil || out.Status != Error || !strings.HasPrefix(out.Reason, "guest: ") {
		t.Errorf("Run on 1n2l2c1t = %+v, %v", out, err)
	}
}

// TestWriteCatalogScripts: a catalog entry's cells run a script kept in
// the results directory, alone in its directory.
func TestWriteCatalogScripts(t *testing.T) {
	m := testMatrix(t)
	dir := t.TempDir()
	if err := WriteCatalogScripts(dir, &m); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "catalog", "steady", "steady.star")
	if m.Scenarios[2].Script != want || m.Scenarios[0].Script != "a.star" {
		t.Fatalf("scripts %q, %q", m.Scenarios[0].Script, m.Scenarios[2].Script)
	}
	b, err := os.ReadFile(want)
	if err != nil || string(b) != "load(\"@stdlib//catalog.star\", \"run\")\n\nrun(\"steady\", params)\n" {
		t.Errorf("%s: %q, %v", want, b, err)
	}
}
