package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// gauntletScenarios writes three tiny scenarios into a directory of
// their own: one passes (after a sleep of params["nap"], default 0),
// one fails a check no load can pass unless params["easy"] is set (then
// it only prints), one prints a catalog entry's skip line.
func gauntletScenarios(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ok.star": `sleep(params.get("nap", "0s"))
print("ok")
`,
		"bad.star": `if params.get("easy"):
    print("easy")
else:
    h = spawn(workload(workers = 1, work = work.spin_wait()))
    h.start()
    sleep("50ms")
    checks.require(h.stop(), min_work_rate = 1e18)
`,
		"skip.star": `print("catalog: skip: skip: needs 3 LLCs")
`,
	}
	var out []string
	for _, name := range []string{"ok.star", "bad.star", "skip.star"} {
		p := filepath.Join(dir, name)
		writeFile(t, p, files[name])
		out = append(out, p)
	}
	return out
}

// keysOf returns a results directory's finished cells, sorted.
func keysOf(t *testing.T, dir string) []string {
	t.Helper()
	r, err := gauntlet.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range r.Records {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestGauntletUsage(t *testing.T) {
	s := script(t, "print('hi')\n")
	checkUsage(t, []usageCase{
		{"help", []string{"gauntlet", "--help"}, 0, "JOB_COMPLETION_INDEX"},
		{"no scenario", []string{"gauntlet"}, 2, "want at least one SCENARIO"},
		{"missing script", []string{"gauntlet", "/nonexistent/x.star"}, 2, "scenario /nonexistent/x.star: stat /nonexistent/x.star"},
		{"bad preset", []string{"gauntlet", "--preset", "huge", s}, 2, `--preset "huge": want a name`},
		{"duplicate preset", []string{"gauntlet", "--preset", "tiny-2llc,1n2l2c1t,tiny-2llc", s}, 2, `preset "tiny-2llc" twice`},
		{"flags without scheduler", []string{"gauntlet", "--flags", "llc", s}, 2, "--flags needs --scheduler"},
		{"flag args without flags", []string{"gauntlet", "--flag-args", "llc=--x", s}, 2, "--flag-args and --flag-requires need --flags"},
		{"unknown flag args", []string{"gauntlet", "--scheduler", "/bin/true", "--flags", "llc", "--flag-args", "steal=--x", s}, 2, `--flag-args "steal=--x": want NAME=ARGS with NAME one of --flags (llc)`},
		{"unknown requirement", []string{"gauntlet", "--scheduler", "/bin/true", "--flags", "llc,steal", "--flag-requires", "steal=rebal", s}, 2, `flag steal requires "rebal", which is not another flag`},
		{"bad shard", []string{"gauntlet", "--shard", "3/3", s}, 2, "--shard 3/3: index"},
		{"shard count alone", []string{"gauntlet", "--shard-count", "3", s}, 2, "--shard-count: no job runner's index variable is set"},
		{"missing kernel", []string{"gauntlet", "--kernel", "/nonexistent/bzImage", s}, 2, "--kernel /nonexistent/bzImage: stat"},
		{"bad jobs", []string{"gauntlet", "-j", "-1", s}, 2, "--jobs -1: want 1 or more"},
		{"bad rerun", []string{"gauntlet", "--rerun", "errors", s}, 2, `--rerun "errors": want pass, fail, skip or error`},
		{"bad boot timeout", []string{"gauntlet", "--boot-timeout", "0s", s}, 2, "--boot-timeout 0s: want a positive duration"},
		{"merge without out", []string{"gauntlet", "merge", "a"}, 2, "want -o OUT and at least one results DIR"},
		{"show a non-result", []string{"gauntlet", "show", t.TempDir()}, 2, "gauntlet.json: no such file"},
	})
}

// startGauntlet starts `ktstar gauntlet ARGS` with extra environment.
func startGauntlet(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"gauntlet"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &out, &errb
}

// TestGauntletResume: a gauntlet (on the host, one cell at a time)
// killed once two cells have ended keeps exactly the cells that ended;
// run again, it runs only the others and prints the whole matrix.
func TestGauntletResume(t *testing.T) {
	scen := gauntletScenarios(t)
	out := filepath.Join(t.TempDir(), "res")
	args := append([]string{"--host", "-j", "1", "-o", out, "--set", "nap=300ms", "--set", "easy=1"}, scen...)
	cmd, _, errb := startGauntlet(t, nil, args...)
	index := filepath.Join(out, gauntlet.IndexFile)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recs, _ := gauntlet.ReadIndex(index)
		if len(recs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two cells ended in 2 minutes:\n%s", errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("killed gauntlet exit %d, want 143\n%s", code, errb)
	}
	before := keysOf(t, out)
	if len(before) < 2 || len(before) >= 6 {
		t.Fatalf("%d cells ended before the kill, want 2..5 (the test needs a kill half-way)\n%s", len(before), errb)
	}
	stdout, errs, code := ktstar(t, "", append([]string{"gauntlet"}, args...)...)
	if code != 0 {
		t.Fatalf("rerun exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	if want := fmt.Sprintf("%d cells done by an earlier run: skipped", len(before)); !strings.Contains(errs, want) {
		t.Errorf("rerun stderr lacks %q:\n%s", want, errs)
	}
	for _, k := range before {
		if strings.Contains(errs, " "+k+" (") {
			t.Errorf("the rerun ran %s again:\n%s", k, errs)
		}
	}
	if ran := strings.Count(errs, "\n["); ran != 6-len(before) {
		t.Errorf("the rerun ran %d cells, want %d:\n%s", ran, 6-len(before), errs)
	}
	if got := keysOf(t, out); len(got) != 6 {
		t.Errorf("%d cells after the rerun, want 6: %v", len(got), got)
	}
	wantAll(t, "matrix", stdout, "SCENARIO  tiny-1llc  tiny-2llc\n", "ok        pass       pass\n", "skip      skip       skip\n",
		"6 cells: 4 passed, 0 failed, 2 skipped, 0 errors, 0 not run\n")
}

// TestGauntletShardsEnv: three processes told their index as a
// Kubernetes Indexed Job tells its pods cover every cell once between
// them, and their merge holds the cells of an unsharded run.
func TestGauntletShardsEnv(t *testing.T) {
	scen := gauntletScenarios(t)
	root := t.TempDir()
	base := []string{"--host", "-j", "1", "--preset", "tiny-1llc,tiny-2llc,1n3l1c1t"}
	common := append(append(slices.Clone(base), "--shard-count", "3"), scen...)
	var dirs []string
	type proc struct {
		cmd  *exec.Cmd
		errb *bytes.Buffer
	}
	var procs []proc
	for i := range 3 {
		d := filepath.Join(root, fmt.Sprintf("shard%d", i))
		dirs = append(dirs, d)
		cmd, _, errb := startGauntlet(t, []string{fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i)}, append([]string{"-o", d}, common...)...)
		procs = append(procs, proc{cmd, errb})
	}
	seen := map[string]int{}
	for i, p := range procs {
		p.cmd.Wait()
		if code := p.cmd.ProcessState.ExitCode(); code != 1 { // bad.star fails in every shard
			t.Fatalf("shard %d: exit %d, want 1\n%s", i, code, p.errb)
		}
		if want := fmt.Sprintf("shard %d/3 from Kubernetes Indexed Job (JOB_COMPLETION_INDEX)", i); !strings.Contains(p.errb.String(), want) {
			t.Errorf("shard %d stderr lacks %q:\n%s", i, want, p.errb)
		}
		keys := keysOf(t, dirs[i])
		if len(keys) != 3 {
			t.Errorf("shard %d ran %d cells, want 3 of 9: %v", i, len(keys), keys)
		}
		for _, k := range keys {
			seen[k]++
		}
	}
	whole := filepath.Join(root, "whole")
	if _, errs, code := ktstar(t, "", append([]string{"gauntlet", "-o", whole, "--shard", "0/1"}, common...)...); code != 2 || !strings.Contains(errs, "--shard-count goes with an index variable") {
		t.Errorf("--shard with --shard-count: exit %d\n%s", code, errs)
	}
	if _, errs, code := ktstar(t, "", append(append([]string{"gauntlet", "-o", whole}, base...), scen...)...); code != 1 {
		t.Fatalf("unsharded run: exit %d\n%s", code, errs)
	}
	want := keysOf(t, whole)
	if len(want) != 9 {
		t.Fatalf("the unsharded run has %d cells, want 9", len(want))
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Errorf("cell %s ran in %d shards, want 1", k, seen[k])
		}
	}
	merged := filepath.Join(root, "merged")
	stdout, errs, code := ktstar(t, "", append([]string{"gauntlet", "merge", "-o", merged}, dirs...)...)
	if code != 1 || !strings.Contains(stdout, "9 cells: 3 passed, 3 failed, 3 skipped, 0 errors, 0 not run") {
		t.Fatalf("merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	if got := keysOf(t, merged); !slices.Equal(got, want) {
		t.Errorf("merged cells\n%v\nwant the unsharded run's\n%v", got, want)
	}
	recs, err := gauntlet.ReadIndex(filepath.Join(merged, gauntlet.IndexFile))
	if err != nil || len(recs) != 9 {
		t.Errorf("merged index: %d records, %v", len(recs), err)
	}
	show, _, code := ktstar(t, "", "gauntlet", "show", merged)
	if code != 1 || show != stdout {
		t.Errorf("show: exit %d\n%s\nwant merge's matrix\n%s", code, show, stdout)
	}
}

// TestGauntletCompare: two gauntlets of one kernel each join cell by cell
// (kernel a against kernel b); a cell that passed and now fails is a
// regression (exit 1).
func TestGauntletCompare(t *testing.T) {
	scen := gauntletScenarios(t)[:2]
	root := t.TempDir()
	kernel := filepath.Join(root, "bzImage") // a label only: --host boots nothing
	writeFile(t, kernel, "")
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	run := func(dir, label string, extra ...string) {
		args := append([]string{"gauntlet", "--host", "--preset", "tiny-1llc", "-o", dir, "--kernel", label + "=" + kernel}, extra...)
		ktstar(t, "", append(args, scen...)...)
	}
	run(a, "a", "--set", "easy=1")
	run(b, "b")
	stdout, errs, code := ktstar(t, "", "compare", a, b)
	if code != 1 {
		t.Fatalf("compare: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	wantAll(t, "compare", stdout, "2 cells in both", "== ok/tiny-1llc/default: base pass, new pass", "== bad/tiny-1llc/default: base pass, new fail",
		"bad/tiny-1llc/default: passed, now fail: FAIL min_work_rate", "SpinWait")
	if _, errs, code := ktstar(t, "", "compare", a, kernel); code != 2 || !strings.Contains(errs, "compare a gauntlet's results with another's") {
		t.Errorf("compare of a gauntlet with a file: exit %d\n%s", code, errs)
	}
}

// TestGuestGauntlet runs a 2-preset × 3-scenario gauntlet in guests, two
// at once, to its matrix.
func TestGuestGauntlet(t *testing.T) {
	guestOrSkip(t)
	scen := gauntletScenarios(t)
	out := filepath.Join(t.TempDir(), "res")
	accel := os.Getenv(vmtest.AccelEnv)
	if accel == "" {
		accel = "tcg"
	}
	args := append([]string{"gauntlet", "--accel", accel, "-j", "2", "-o", out, "--preset", "tiny-1llc,tiny-2llc", "--boot-timeout", testenv.GuestBootTimeout.String()}, scen...)
	stdout, errs, code := ktstar(t, "", args...)
	for try := 1; try <= 2 && !strings.Contains(stdout, " 0 errors"); try++ {
		// A TCG guest can hang in its boot (CI saw it twice in a row on
		// one cell); the cell is an error, and a user reruns such cells,
		// as this does.
		t.Logf("a cell errored; rerun %d of errors\nstdout:\n%s\nstderr:\n%s", try, stdout, errs)
		logErroredCells(t, out)
		stdout, errs, code = ktstar(t, "", append([]string{"gauntlet", "--rerun", "error"}, args[1:]...)...)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1 (bad.star fails)\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	wantAll(t, "matrix", stdout, "ok        pass                pass\n", "bad       FAIL min_work_rate  FAIL min_work_rate\n",
		"skip      skip                skip\n", "6 cells: 2 passed, 2 failed, 2 skipped, 0 errors, 0 not run\n")
	if t.Failed() {
		t.Logf("stderr:\n%s", errs)
		logErroredCells(t, out)
	}
	all, err := gauntlet.ReadIndex(filepath.Join(out, gauntlet.IndexFile))
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	last := map[string]int{} // a rerun cell's latest record
	var recs []gauntlet.Record
	for _, r := range all {
		if i, ok := last[r.Key]; ok {
			recs[i] = r
			continue
		}
		last[r.Key] = len(recs)
		recs = append(recs, r)
	}
	if len(recs) != 6 {
		t.Fatalf("index: %d cells, want 6", len(recs))
	}
	for _, r := range recs {
		if r.Result == "" || r.ScenarioNs <= 0 || r.DurationNs <= r.ScenarioNs {
			t.Errorf("%s: result %q, scenario %d ns of %d ns", r.Key, r.Result, r.ScenarioNs, r.DurationNs)
		}
		t.Logf("%s: %s in %.1fs, overhead %.1fs", r.Key, r.Status, time.Duration(r.DurationNs).Seconds(), time.Duration(r.DurationNs-r.ScenarioNs).Seconds())
	}
}

// TestGuestGauntletBootTimeout: --boot-timeout reaches each cell's guest;
// a guest that has not started its script by then is killed, and its cell
// is an error that says so.
func TestGuestGauntletBootTimeout(t *testing.T) {
	guestOrSkip(t)
	out := filepath.Join(t.TempDir(), "res")
	// No TCG guest boots a kernel and starts its script in 300 ms.
	stdout, errs, code := ktstar(t, "", "gauntlet", "--accel", "tcg", "-o", out, "--preset", "tiny-1llc", "--boot-timeout", "300ms", gauntletScenarios(t)[0])
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	wantAll(t, "matrix", stdout, "ok        ERROR\n", "the guest did not start its run within the boot timeout 300ms", "1 cells: 0 passed, 0 failed, 0 skipped, 1 errors")
}

// logErroredCells logs the log of each errored cell in the results
// directory dir: a guest's error there ends with its last console lines,
// which say where a guest that never started its run was stuck.
func logErroredCells(t *testing.T, dir string) {
	t.Helper()
	recs, err := gauntlet.ReadIndex(filepath.Join(dir, gauntlet.IndexFile))
	if err != nil {
		t.Logf("index: %v", err)
		return
	}
	for _, r := range recs {
		if r.Status != gauntlet.Error || r.Log == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, r.Log))
		if err != nil {
			t.Logf("%s: %v", r.Key, err)
			continue
		}
		t.Logf("%s (started %s) log:\n%s", r.Key, r.Start.Format(time.TimeOnly), b)
	}
}
