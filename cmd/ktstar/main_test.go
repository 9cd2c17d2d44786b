package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
)

// bin is the ktstar binary the tests drive, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	starlib.RegisterCustomRunner(engine.RunModule, engine.Render)
	workload.Init()
	dir, err := os.MkdirTemp("", "ktstar-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = filepath.Join(dir, "ktstar")
	build := exec.Command("go", "build", "-o", bin, ".")
	// Static like make build, so the guest tests can boot it as /init.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ktstar:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ktstar runs the binary and returns stdout, stderr and the exit status.
func ktstar(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// script writes src to s.star in a temp dir and returns its path.
func script(t *testing.T, src string) string {
	t.Helper()
	return scriptWith(t, src, nil)
}

// scriptWith is script with modules beside it: libs maps a path relative
// to the script (e.g. "lib/loops.star") to its source.
func scriptWith(t *testing.T, src string, libs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, lib := range libs {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), lib)
	}
	p := filepath.Join(dir, "s.star")
	writeFile(t, p, src)
	return p
}

// runToJSON runs `ktstar --json <temp file> args...`, which must exit 0,
// and returns the file's path, stdout and stderr.
func runToJSON(t *testing.T, args ...string) (path, stdout, stderr string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "out.json")
	stdout, stderr, code := ktstar(t, "", append([]string{"--json", path}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	return path, stdout, stderr
}

// readJSON decodes the --json result at path into v and returns its bytes,
// failing t if it is missing or does not parse.
func readJSON(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, b)
	}
	return b
}

// wantAll fails t for each of want that text (what names it, e.g.
// "stderr") does not contain.
func wantAll(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func writeFile(t testing.TB, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExamples runs every example through the real binary, briefly.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.star")
	// quickstart and one per family of work types.
	for _, name := range []string{"quickstart", "compute", "io", "churn", "mem", "sequence", "custom", "fanout", "lock", "rt", "kernel_paths"} {
		if !slices.Contains(files, "../../examples/"+name+".star") {
			t.Errorf("examples/%s.star is missing", name)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, errs, code := ktstar(t, "", "--set", "duration=200ms", f)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
		})
	}
}

// usageCase is one command line that ktstar refuses (or helps with)
// before it runs anything: the exit status and a piece of stderr.
type usageCase struct {
	name  string
	args  []string
	code  int
	inErr string
}

// checkUsage runs each case as a subtest.
func checkUsage(t *testing.T, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := ktstar(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.inErr) {
				t.Fatalf("exit %d (want %d)\nstderr:\n%s\nwant it to contain %q", code, tc.code, errs, tc.inErr)
			}
		})
	}
}

// TestExitStatus checks the exit status and the message of each outcome.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		inErr string // substring of stderr
		inOut string // substring of stdout
	}{
		{"fail", []string{script(t, "fail('threshold', 3, 'exceeded')\n")}, 1, "s.star:1:5: error: fail: threshold 3 exceeded", ""},
		{"script error", []string{script(t, "x = 1 // 0\n")}, 2, "s.star:1:7: error: floored division by zero", ""},
		{"spawn error", []string{script(t, "spawn(workload(workers = 1, affinity = affinity.exact([4095])))\n")}, 2, "CPU 4095 is not online", ""},
		{"missing file", []string{"/nonexistent.star"}, 2, "read script", ""},
		{"unknown flag", []string{"--frob", "x.star"}, 2, "unknown flag: --frob", ""},
		{"bad set", []string{"--set", "novalue", "x.star"}, 2, `--set "novalue": want KEY=VALUE`, ""},
		{"bad color", []string{"--color", "pink", "version"}, 2, `--color="pink"`, ""},
		{"no args", nil, 2, "Usage:", ""},
		{"help", []string{"--help"}, 0, "Usage:", ""},
		{"version", []string{"version"}, 0, "", "ktstar " + version},
		{"params and args", []string{"--set", "k=v", script(t, "print(params['k'], args)\n"), "--", "a", "-b"}, 0, "", `v ["a", "-b"]`},
		{"run", []string{"run", script(t, "print('hi')\n")}, 0, "", "hi"},
		{"check ok", []string{"check", script(t, "spawn(workload(workers = 1))\n")}, 0, "ok", ""},
		{"check error", []string{"check", script(t, "x = (\n")}, 2, "s.star:2:1: error: got end of file", ""},
		{"check undefined", []string{"check", script(t, "spwn(1)\n")}, 2, "s.star:1:1: error: undefined: spwn", ""},
		{"check placement", []string{"check", script(t, "spawn(workload(workers = 1, work = work.cross_affinity_churn()))\n")}, 2, "so it runs only inside a cgroup ktstar manages, and it has none", ""},
		{"doc", []string{"doc", "futex_ping_pong"}, 0, "", "spin_iters  int   1024     0..16777216"},
		{"doc unknown", []string{"doc", "futex_ping"}, 2, `unknown work type "futex_ping"`, ""},
		{"doc lists", []string{"doc"}, 0, "", "work.futex_ping_pong"},
		{"timeout", []string{"--timeout", "200ms", script(t, "sleep('60s')\n")}, 2, "timed out after 200ms", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstar(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.inErr) || !strings.Contains(out, tc.inOut) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stderr to contain %q and stdout %q", code, tc.code, out, errs, tc.inErr, tc.inOut)
			}
		})
	}
}

// TestList checks that `ktstar list` has one row per workload.Names()
// entry: a fixed name, or for a type the user names (Custom) its form.
func TestList(t *testing.T) {
	out, _, code := ktstar(t, "", "list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	rows := map[string]string{} // first column → row
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, line := range lines[1:] {
		rows[strings.Fields(line)[0]] = line
	}
	names := workload.Names()
	if len(lines)-1 != len(names) {
		t.Errorf("list has %d rows, want %d (one per work type)", len(lines)-1, len(names))
	}
	forms := 0
	for _, name := range names {
		typ, _ := workload.Lookup(name)
		row, ok := rows[typ.Form()]
		if !ok || !strings.Contains(row, "work."+typ.Ctor) || !strings.Contains(row, typ.Doc) {
			t.Errorf("list lacks %s (as %s):\n%s", name, typ.Form(), out)
		}
		if typ.Form() != name {
			forms++
		}
	}
	if _, ok := rows["Custom(name)"]; !ok || forms != 1 {
		t.Errorf("want Custom listed as the one form Custom(name), got %d forms:\n%s", forms, out)
	}
}

// TestDoc checks that `ktstar doc` renders every parameter of every type
// with its kind, a default in Starlark form and the allowed range.
func TestDoc(t *testing.T) {
	for _, typ := range workload.Types() {
		out, errs, code := ktstar(t, "", "doc", typ.Ctor)
		if code != 0 {
			t.Errorf("doc %s: exit %d: %s", typ.Ctor, code, errs)
			continue
		}
		if !strings.Contains(out, "default:    work."+typ.Ctor+"(") && !strings.Contains(out, "required:") {
			t.Errorf("doc %s shows neither a default nor what is required:\n%s", typ.Ctor, out)
		}
		for _, p := range typ.Params {
			if !regexp.MustCompile(`(?m)^    `+p.Name+` +`+regexp.QuoteMeta(p.Kind.String())+`  +\S`).MatchString(out) ||
				!strings.Contains(out, p.Range()) {
				t.Errorf("doc %s lacks parameter %s (%s, %s):\n%s", typ.Ctor, p.Name, p.Kind, p.Range(), out)
			}
		}
		if strings.Contains(out, "None") {
			t.Errorf("doc %s renders a default as None:\n%s", typ.Ctor, out)
		}
		if want := "samples:    none"; typ.Sample != "" {
			want = fmt.Sprintf("samples:    %s (%s)", typ.Sample, typ.Sample.Doc())
			if typ.Sample.Doc() == "" {
				t.Errorf("%s declares sample kind %q, which has no doc", typ.Name, typ.Sample)
			}
			if !strings.Contains(out, want) {
				t.Errorf("doc %s lacks %q:\n%s", typ.Ctor, want, out)
			}
		}
	}
	if out, _, _ := ktstar(t, "", "doc", "FutexPingPong"); !strings.Contains(out, "samples:    wake-to-run (one-way") {
		t.Errorf("doc FutexPingPong does not name its one-way wake-to-run samples:\n%s", out)
	}
	// Any spelling a person may type names the same type.
	want, _, _ := ktstar(t, "", "doc", "PipeIo")
	for _, name := range []string{"pipeio", "pipe_io", "PIPE_IO", "work.pipe_io"} {
		if out, errs, code := ktstar(t, "", "doc", name); code != 0 || out != want {
			t.Errorf("doc %s: exit %d, %s\n%s\nwant the text of doc PipeIo", name, code, errs, out)
		}
	}
	if out, _, _ := ktstar(t, "", "doc", "timer_latency"); !strings.Contains(out, "samples:    timer, in timer_latencies_ns: an oversleep") {
		t.Errorf("doc timer_latency does not name its timer samples:\n%s", out)
	}
	out, _, _ := ktstar(t, "", "doc", "sequence")
	wantAll(t, "doc sequence", out, "list of phase  []", "required:   phases = []: at least one phase is needed", `phase.alu_hot(duration, width = "Widest")  AluHot's four multiply chains`)
}

// TestJSON checks that --json holds host facts, one report per worker
// with every field of workload.Report, per run one summary row per group,
// and every check outcome of every call.
func TestJSON(t *testing.T) {
	s := script(t, `load("@stdlib//run.star", "wait_progress")
h = spawn(workload(workers = 2, work = work.futex_ping_pong()))
h.start()
wait_progress(h, "100ms")
r = h.stop()
checks.evaluate(r, preset = checks.default(), max_gap_ms = False)
checks.evaluate(r, max_p99_wake_latency_ns = 1)
`)
	var doc struct {
		Schema     int            `json:"schema_version"`
		Version    string         `json:"ktstar_version"`
		Script     string         `json:"script"`
		Args       []string       `json:"args"`
		StartTime  time.Time      `json:"start_time"`
		DurationNs int64          `json:"duration_ns"`
		Host       map[string]any `json:"host"`
		Runs       []struct {
			Handle   int              `json:"handle"`
			Workload map[string]any   `json:"workload"`
			Reports  []map[string]any `json:"reports"`
			Groups   []map[string]any `json:"groups"`
		} `json:"runs"`
		Checks []struct {
			Call     string           `json:"call"`
			Function string           `json:"function"`
			Verdict  string           `json:"verdict"`
			Outcomes []map[string]any `json:"outcomes"`
		} `json:"checks"`
	}
	path, _, _ := runToJSON(t, "-q", s, "--", "x")
	b := readJSON(t, path, &doc)
	if doc.Schema != result.SchemaVersion || doc.Version != version || doc.Script != s || !slices.Equal(doc.Args, []string{"x"}) || doc.StartTime.IsZero() || doc.DurationNs <= 0 {
		t.Errorf("run facts: %+v", doc)
	}
	for _, k := range []string{"kernel_release", "cpu_count", "cpu_model"} {
		if _, ok := doc.Host[k]; !ok {
			t.Errorf("host facts lack %s: %v", k, doc.Host)
		}
	}
	if len(doc.Runs) != 1 || doc.Runs[0].Handle != 1 || len(doc.Runs[0].Reports) != 2 || len(doc.Runs[0].Groups) != 1 {
		t.Fatalf("want 1 run of 2 reports and 1 group, got %s", b)
	}
	checkReportFields(t, doc.Runs[0].Reports)
	g := doc.Runs[0].Groups[0]
	for _, k := range []string{"label", "workers", "work_units_per_s", "cpu_pct", "off_cpu_pct", "migrations", "max_gap_ms", "wake_samples", "wake_sample_total", "wake_p50_ns", "wake_p99_ns", "wake_p999_ns", "completed"} {
		if _, ok := g[k]; !ok {
			t.Errorf("group row lacks %s: %v", k, g)
		}
	}
	if g["label"] != "FutexPingPong" || g["workers"] != 2.0 || g["wake_samples"].(float64) <= 0 {
		t.Errorf("group row: %v", g)
	}
	if len(doc.Checks) != 2 || doc.Checks[0].Call != s+":6:16" || doc.Checks[1].Verdict != "fail" {
		t.Fatalf("checks: %+v", doc.Checks)
	}
	// Statuses depend on the machine's load; the checks run do not.
	var names []string
	for _, o := range doc.Checks[0].Outcomes {
		if st := o["status"]; st != "pass" && st != "fail" {
			t.Errorf("status %v", st)
		}
		names = append(names, o["check"].(string))
	}
	if sc := doc.Checks[0].Outcomes[0]["scope"]; sc != g["label"] {
		t.Errorf("check scope %v, want the row's label %v", sc, g["label"])
	}
	if got := strings.Join(names, " "); got != "not_starved max_spread_pct" {
		t.Errorf("first call's outcomes: %s", got)
	}
	o := doc.Checks[1].Outcomes[0]
	if o["check"] != "max_p99_wake_latency_ns" || o["threshold"] != 1.0 || o["samples"].(float64) <= 0 || o["worst"].(map[string]any)["tid"] == nil {
		t.Errorf("p99 outcome: %v", o)
	}
}

// checkReportFields checks that every report holds every field of the
// report struct, except those left out when empty (affinity_error,
// counters), which no futex worker has.
func checkReportFields(t *testing.T, reports []map[string]any) {
	t.Helper()
	rt := reflect.TypeFor[workload.Report]()
	for i := range rt.NumField() {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if opts == "omitempty" {
			continue
		}
		for w, r := range reports {
			if _, ok := r[name]; !ok {
				t.Errorf("report %d lacks %s", w, name)
			}
		}
	}
}

// startCmd starts cmd with its stdout piped (returned as a reader) and
// its stderr collected; the process is killed and reaped when the test
// ends.
func startCmd(t *testing.T, cmd *exec.Cmd) (*bufio.Reader, *bytes.Buffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := &bytes.Buffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return bufio.NewReader(stdout), errb
}

// startScript starts the binary on args and returns once the script has
// printed its first line (e.g. worker pids); stderr is collected in errb.
// The process is killed and reaped when the test ends.
func startScript(t *testing.T, args ...string) (cmd *exec.Cmd, line string, errb *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	out, errb := startCmd(t, cmd)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("nothing printed: %v; stderr: %s", err, errb.String())
	}
	return cmd, line, errb
}

// TestSignals interrupts a script in sleep("60s"): ktstar cuts the sleep
// short and returns with 128+signal, after every worker is gone. How soon
// is load's: the stop that follows waits at most workload's interrupt
// grace (800 ms) for the reports, then SIGKILLs and reaps (at most 3 s
// more), which a loaded machine stretches but which stays far below the
// sleep; an uncut sleep would take all of it.
func TestSignals(t *testing.T) {
	const nap = 60 * time.Second
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			s := script(t, fmt.Sprintf(`
h = spawn(workload(workers = 2))
h.start()
print(" ".join([str(p) for p in h.pids]))
sleep("%s")
`, nap))
			cmd, line, errb := startScript(t, "-q", s)
			var pids []int
			for _, f := range strings.Fields(line) {
				p, _ := strconv.Atoi(f)
				pids = append(pids, p)
			}
			sent := time.Now()
			cmd.Process.Signal(sig)
			cmd.Wait()
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Errorf("exit %d, want %d; stderr: %s", code, 128+int(sig), errb.String())
			}
			t.Logf("exited %v after %s", took, sig)
			if took >= nap/2 {
				t.Errorf("took %v after the signal: the %v sleep was not cut short", took, nap)
			}
			for _, p := range pids {
				if err := syscall.Kill(p, 0); err != syscall.ESRCH {
					t.Errorf("worker %d still exists after ktstar exited (kill 0: %v)", p, err)
				}
			}
		})
	}
}

// TestREPLPipe drives `ktstar repl` through a pipe, as a serial console
// would: no prompts, the values on stdout, the stopped spawn's summary on
// stderr.
func TestREPLPipe(t *testing.T) {
	in := `cfg = workload(workers = 2, work = work.futex_ping_pong(spin_iters = 64))
h = spawn(cfg)
h.start()
sleep("100ms")
reports = h.stop()
len(reports)
[r["completed"] for r in reports]
`
	out, errs, code := ktstar(t, in, "repl")
	if code != 0 || out != "2\n[True, True]\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if strings.Contains(errs, ">>>") || strings.Contains(errs, "...") {
		t.Errorf("prompts printed to a pipe: stderr %q", errs)
	}
	if !strings.Contains(errs, "\n  FutexPingPong ") {
		t.Errorf("no summary of the stopped spawn on stderr: %q", errs)
	}
}

// customLib is a module of Starlark custom functions for TestCustomStarlark.
const customLib = `
def spinner(ctx):
    loops = 0
    while not ctx.stopped():
        ctx.spin(1024)
        ctx.sched_yield()
        ctx.count("loops")
        ctx.tick()
        loops += 1
    print("spinner done")
    return {"loops_returned": loops, "label": ctx.name, "ratio": 0.5}

def boom(ctx):
    ctx.spin()
    ctx.tick()
    fail("custom boom")

def ignores_stop(ctx):
    while True:
        ctx.spin()
        ctx.tick()

def make():
    def inner(ctx):
        pass
    return inner

nested = make()

def sleeper(ctx):
    while not ctx.stopped():
        ctx.sleep("1ms")
        ctx.tick()

def chooser(ctx):
    while not ctx.stopped():
        ctx.wake_sample(5, kind = "lock wait")
        ctx.tick()

def mixer(ctx):
    while not ctx.stopped():
        ctx.wake_sample(5, kind = "lock wait")
        ctx.sched_yield()
        ctx.tick()

def bad_kind(ctx):
    ctx.tick()
    ctx.wake_sample(5, kind = "wake")
`

// TestCustomStarlark runs Starlark custom functions through the binary:
// report fields, failure reports that let the run go on, and the
// refusal of functions a worker could not load.
func TestCustomStarlark(t *testing.T) {
	main := scriptWith(t, `load("@stdlib//run.star", "wait_progress")
load("lib/loops.star", "spinner", "boom", "ignores_stop", "sleeper", "chooser", "mixer", "bad_kind")
def run(w, n = 1):
    h = spawn(workload(workers = n, work = w))
    h.start()
    wait_progress(h, "150ms")  # even the failing functions tick once first
    return h.stop()

for r in run(work.custom("spin", spinner), 2):
    c = r["counters"]
    if not r["completed"] or r["iterations"] == 0 or c["loops"] != r["iterations"] or c["loops_returned"] != r["iterations"]:
        fail("spinner report", r)
    if r["extra"] != {"label": "spin", "ratio": 0.5} or r["wake_sample_total"] != r["iterations"] or r["work_units"] != 1024 * r["iterations"]:
        fail("spinner fields", r)
for name, fn, want in [("boom", boom, "custom boom"), ("deaf", ignores_stop, "the function's loop must end when ctx.stopped() is True")]:
    for r in run(work.custom(name, fn)):
        e = r["exit_info"]
        if r["completed"] or e["kind"] != "failed" or want not in e["error"] or "lib/loops.star:" not in e["error"]:
            fail(name, "report", r)
print("after the failures", len(run(work.custom("again", spinner), 1)))
for r in run(work.custom("sleeper", sleeper), 1):
    if r["sample_kind"] != "oversleep" or r["wake_sample_total"] == 0 or stats.max(r["wake_latencies_ns"]) >= 1000000000:
        fail("ctx.sleep records oversleep", r)
if [run(work.custom(n, f), 1)[0]["sample_kind"] for n, f in [("chooser", chooser), ("mixer", mixer)]] != ["lock wait", "mixed"]:
    fail("ctx.wake_sample(kind) names the kind; two kinds are mixed")
e = run(work.custom("bad", bad_kind))[0]["exit_info"]
if 'kind = "wake" is not a sample kind (allowed: "wake-to-run", "wait"' not in e["error"]:
    fail("bad kind", e)
`, map[string]string{"lib/loops.star": customLib})
	out, errs, code := ktstar(t, "", "-q", main)
	if code != 0 || !strings.Contains(out, "after the failures 1") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !regexp.MustCompile(`(?m)^custom spin\[\d+\]: spinner done$`).MatchString(errs) {
		t.Errorf("the function's print is not on stderr with the work's name and pid:\n%s", errs)
	}

	for _, tc := range []struct{ name, src, want string }{
		{"lambda", `work.custom("x", lambda ctx: None)`, "custom: fn: a lambda cannot run in a worker"},
		{"nested", "load(\"lib/loops.star\", \"nested\")\nwork.custom(\"x\", nested)", "lib/loops.star:24:5) is not defined at the top level of its module"},
		{"main file", "def f(ctx):\n    pass\nwork.custom(\"x\", f)", "custom: fn: f is defined in the main script"},
		{"no ctx", "load(\"lib/loops.star\", \"make\")\nwork.custom(\"x\", make)", "custom: fn: make takes no parameters"},
		{"not a function", `work.custom("x", 3)`, "custom: fn: want a function defined in a loaded module"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(filepath.Dir(main), "refuse.star")
			writeFile(t, p, tc.src+"\n")
			out, errs, code := ktstar(t, "", "-q", p)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, out, errs, tc.want)
			}
		})
	}
}
