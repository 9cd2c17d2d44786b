package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/internal/reportbench"
	"github.com/ktstar/ktstar/workload"
)

// figures are one run's measurements by name. The C references print them
// as JSON keys, and the ktstar runners derive the same names from worker
// reports, so a metric names one key for both sides.
type figures map[string]float64

// env is what the runners share: where the C references were built, the
// scratch directory and the ktstar binary, if one was built.
type env struct {
	cbin      string // directory of compiled C references; "" when gcc failed
	cbinErr   string // why there are none
	tmp       string // scratch directory, removed at exit
	ktstarBin string // path of bin/ktstar; "" when absent
}

// runner is one side of a comparison.
type runner interface {
	// Describe says what runs, with its options, for the table and JSON.
	Describe() string
	// Missing returns why this side cannot run on this machine or build, or "".
	Missing(e *env) string
	// Run runs once for d with worker i pinned to cpus[i % len(cpus)]
	// (no pinning when cpus is empty) and returns what it measured.
	Run(e *env, d time.Duration, cpus []int) (figures, error)
}

// derive adds the figures computed from others. Paired types count one
// iteration per worker per exchange, so a pair completes a round trip for
// every two iterations.
func derive(f figures) figures {
	if v, ok := f["iterations_per_s"]; ok {
		if _, set := f["round_trips_per_s"]; !set {
			f["round_trips_per_s"] = v / 2
		}
	}
	return f
}

// ktstarWork runs a ktstar work type through the workload API: Spawn,
// optional per-worker pinning, Start, sleep, StopAndCollect.
type ktstarWork struct {
	Type    string
	Params  map[string]any
	Workers int
	// SampleOffset is subtracted from every wake sample before the
	// percentiles are taken (Bursty's samples include the requested sleep).
	SampleOffset time.Duration
}

func (k ktstarWork) work() (workload.Work, error) { return workload.NewWork(k.Type, k.Params) }

func (k ktstarWork) Describe() string {
	w, err := k.work()
	if err != nil {
		return fmt.Sprintf("ktstar %s %v × %d", k.Type, k.Params, k.Workers)
	}
	return fmt.Sprintf("ktstar %s × %d", w, k.Workers)
}

func (k ktstarWork) Missing(*env) string {
	if !slices.Contains(workload.Names(), k.Type) {
		return fmt.Sprintf("work type %s is not in workload.Names() of this build", k.Type)
	}
	if _, err := k.work(); err != nil {
		return err.Error()
	}
	return ""
}

func (k ktstarWork) Run(_ *env, d time.Duration, cpus []int) (figures, error) {
	w, err := k.work()
	if err != nil {
		return nil, err
	}
	h, err := workload.Spawn(workload.Config{Workers: k.Workers, Work: w})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if len(cpus) > 0 {
		for i := range k.Workers {
			if err := h.SetAffinity(i, []int{cpus[i%len(cpus)]}); err != nil {
				return nil, err
			}
		}
	}
	// Like the C harness: rates are totals over the gate-open-to-stop
	// interval, so a paired worker's last bounded wait does not dilute them.
	t0 := time.Now()
	if err := h.Start(); err != nil {
		return nil, err
	}
	time.Sleep(d)
	elapsed := time.Since(t0).Seconds()
	reports, err := h.StopAndCollect()
	if err != nil {
		return nil, err
	}
	var units, iters uint64
	var samples, timer []uint64
	for i, r := range reports {
		if !r.Completed {
			return nil, fmt.Errorf("worker %d sent no report (%+v)", i, r.ExitInfo)
		}
		units += r.WorkUnits
		iters += r.Iterations
		for _, s := range r.WakeLatenciesNs {
			samples = append(samples, uint64(max(int64(s)-int64(k.SampleOffset), 0)))
		}
		timer = append(timer, r.TimerLatenciesNs...)
	}
	f := figures{
		"work_units_per_s": float64(units) / elapsed,
		"iterations_per_s": float64(iters) / elapsed,
	}
	if len(samples) > 0 {
		slices.Sort(samples)
		f["wake_p50_ns"] = float64(percentile(samples, 50))
		f["wake_p99_ns"] = float64(percentile(samples, 99))
	}
	if len(timer) > 0 {
		slices.Sort(timer)
		f["timer_p50_ns"] = float64(percentile(timer, 50))
		f["timer_p99_ns"] = float64(percentile(timer, 99))
	}
	return derive(f), nil
}

// cProg runs one compiled C reference program.
type cProg struct {
	Prog    string
	Args    []string // key=value parameters
	Workers int
}

func (c cProg) Describe() string {
	return strings.Join(append([]string{"C " + c.Prog, fmt.Sprintf("workers=%d", c.Workers)}, c.Args...), " ")
}

func (c cProg) Missing(e *env) string {
	if e.cbin == "" {
		return "C references not built: " + e.cbinErr
	}
	if _, err := os.Stat(filepath.Join(e.cbin, c.Prog)); err != nil {
		return fmt.Sprintf("C reference %s not built", c.Prog)
	}
	return ""
}

func (c cProg) Run(e *env, d time.Duration, cpus []int) (figures, error) {
	args := append(slices.Clone(c.Args),
		fmt.Sprintf("duration_ms=%d", d.Milliseconds()),
		fmt.Sprintf("workers=%d", c.Workers))
	if len(cpus) > 0 {
		args = append(args, "cpus="+workload.FormatCPUList(cpus))
	}
	return runJSON(filepath.Join(e.cbin, c.Prog), args...)
}

// runJSON runs a C reference and decodes the numbers of its JSON line.
func runJSON(path string, args ...string) (figures, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(path), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return parseCJSON(out)
}

// parseCJSON keeps the top-level numbers of a reference's JSON line.
func parseCJSON(out []byte) (figures, error) {
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decode reference output %q: %w", out, err)
	}
	f := figures{}
	for k, v := range raw {
		if n, ok := v.(float64); ok {
			f[k] = n
		}
	}
	return derive(f), nil
}

// ktstarSpawn times workload.Spawn of N SpinWait workers (it returns when
// every worker has parked at the start gate) and reads worker 0's memory.
type ktstarSpawn struct {
	N      int
	Thread bool // clone_mode = "thread": the workers are threads of one host
}

func (k ktstarSpawn) Describe() string {
	mode := ""
	if k.Thread {
		mode = `, clone_mode = "thread"`
	}
	return fmt.Sprintf("ktstar workload.Spawn(%d × SpinWait%s) until all parked, ÷ %d", k.N, mode, k.N)
}

func (ktstarSpawn) Missing(*env) string { return "" }

func (k ktstarSpawn) Run(*env, time.Duration, []int) (figures, error) {
	cfg := workload.Config{Workers: k.N}
	if k.Thread {
		cfg.CloneMode = workload.CloneThread
		cfg.MaxWorkers = k.N
	}
	t0 := time.Now()
	h, err := workload.Spawn(cfg)
	el := time.Since(t0)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if k.Thread {
		return figures{"per_child_ns": float64(el.Nanoseconds()) / float64(k.N)}, nil
	}
	mem, err := readSmapsRollup(h.Pids()[0])
	if err != nil {
		return nil, err
	}
	return figures{
		"per_child_ns":     float64(el.Nanoseconds()) / float64(k.N),
		"child_anon_kb":    mem["Anonymous"],
		"child_private_kb": mem["Private_Clean"] + mem["Private_Dirty"],
		"child_rss_kb":     mem["Rss"],
	}, nil
}

// ktstarThreadMem measures the idle memory of a thread worker: the
// private memory of a host of N parked SpinWait threads less that of a
// host of one, ÷ (N - 1).
type ktstarThreadMem struct{ N int }

func (k ktstarThreadMem) Describe() string {
	return fmt.Sprintf("private kB of a host of %d parked thread workers less a host of 1, ÷ %d", k.N, k.N-1)
}

func (ktstarThreadMem) Missing(*env) string { return "" }

func (k ktstarThreadMem) Run(*env, time.Duration, []int) (figures, error) {
	var priv [2]float64
	for i, n := range []int{1, k.N} {
		h, err := workload.Spawn(workload.Config{Workers: n, CloneMode: workload.CloneThread, MaxWorkers: n})
		if err != nil {
			return nil, err
		}
		mem, err := readSmapsRollup(h.HostPid())
		h.Close()
		if err != nil {
			return nil, err
		}
		priv[i] = mem["Private_Clean"] + mem["Private_Dirty"]
	}
	return figures{"thread_private_kb": (priv[1] - priv[0]) / float64(k.N-1)}, nil
}

// readSmapsRollup returns the kB fields of /proc/PID/smaps_rollup.
func readSmapsRollup(pid int) (map[string]float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseFloat(f[0], 64)
			out[k] = n
		}
	}
	return out, nil
}

// cSpawn runs the C spawn reference: fork + exec of a trivial child N times.
type cSpawn struct {
	N      int
	Static bool // the statically linked child
}

func (c cSpawn) child() string {
	if c.Static {
		return "spawn_child" + staticSuffix
	}
	return "spawn_child"
}

func (c cSpawn) Describe() string {
	return fmt.Sprintf("C spawn n=%d: fork+exec %s, first fork to last ready, ÷ %d", c.N, c.child(), c.N)
}

func (c cSpawn) Missing(e *env) string {
	if m := (cProg{Prog: "spawn"}).Missing(e); m != "" {
		return m
	}
	return cProg{Prog: c.child()}.Missing(e)
}

func (c cSpawn) Run(e *env, _ time.Duration, _ []int) (figures, error) {
	return runJSON(filepath.Join(e.cbin, "spawn"), fmt.Sprintf("n=%d", c.N), "child="+filepath.Join(e.cbin, c.child()))
}

// cThreadSpawn runs the C thread spawn reference: pthread_create N times
// in one process.
type cThreadSpawn struct{ N int }

func (c cThreadSpawn) Describe() string {
	return fmt.Sprintf("C thread_spawn n=%d: pthread_create, first create to last ready, ÷ %d", c.N, c.N)
}

func (cThreadSpawn) Missing(e *env) string { return (cProg{Prog: "thread_spawn"}).Missing(e) }

func (c cThreadSpawn) Run(e *env, _ time.Duration, _ []int) (figures, error) {
	return runJSON(filepath.Join(e.cbin, "thread_spawn"), fmt.Sprintf("n=%d", c.N))
}

// ktstarStart times `bin/ktstar FILE` on an empty script.
type ktstarStart struct{}

func (ktstarStart) Describe() string { return "bin/ktstar EMPTY.star, wall time" }

func (ktstarStart) Missing(e *env) string {
	if e.ktstarBin == "" {
		return "bin/ktstar not built (make build)"
	}
	return ""
}

func (ktstarStart) Run(e *env, _ time.Duration, _ []int) (figures, error) {
	script := filepath.Join(e.tmp, "empty.star")
	if err := os.WriteFile(script, nil, 0o644); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if out, err := exec.Command(e.ktstarBin, script).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ktstar %s: %w: %s", script, err, out)
	}
	return figures{"start_ms": float64(time.Since(t0).Microseconds()) / 1000}, nil
}

// reportConversion times what a script does with a big run's reports:
// 64 reports of 100,000 wake samples each become Starlark report dicts
// (the samples stay Go slices) and stats.percentile takes p99 over all.
type reportConversion struct{}

func (reportConversion) Describe() string {
	return "starlib.Reports(64 × 100,000 samples) + stats.percentile(…, 99)"
}

func (reportConversion) Missing(*env) string { return "" }

func (reportConversion) Run(*env, time.Duration, []int) (figures, error) {
	reports := reportbench.Reports(64, workload.MaxWakeSamples)
	t0 := time.Now()
	if err := reportbench.P99(new(starlark.Thread), reports); err != nil {
		return nil, err
	}
	return figures{"convert_ms": float64(time.Since(t0).Microseconds()) / 1000}, nil
}

// tool runs a real peer benchmark installed from Debian packages.
type tool struct {
	Bin     string
	Package string // what `make bench-deps` installs it from
	// Args builds the command line for a run of about d.
	Args func(d time.Duration) []string
	// Parse turns the tool's output (or a file it wrote under dir) into figures.
	Parse func(out []byte, dir string, args []string) (figures, error)
	// Shape is how Describe shows the options, for a nominal 1 s run.
	Shape string
}

func (t tool) Describe() string { return t.Shape }

func (t tool) Missing(*env) string {
	if _, err := exec.LookPath(t.Bin); err != nil {
		return fmt.Sprintf("%s not installed (make bench-deps installs %s)", t.Bin, t.Package)
	}
	return ""
}

func (t tool) Run(e *env, d time.Duration, cpus []int) (figures, error) {
	args := t.Args(d)
	dir, err := os.MkdirTemp(e.tmp, t.Bin)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(t.Bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", t.Bin, strings.Join(args, " "), err, tail(out))
	}
	f, err := t.Parse(out, dir, args)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", t.Bin, strings.Join(args, " "), err, tail(out))
	}
	return f, nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

// firstFloat returns the first capture of re in out as a number.
func firstFloat(re *regexp.Regexp, out []byte) (float64, error) {
	m := re.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("output has no match for %s", re)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// histogramPercentiles reads cyclictest's `-h` histogram (lines of
// "bucket_us count", comment lines start with '#'; "# Histogram Overflows"
// counts samples past the last bucket) and returns p50 and p99 in ns.
func histogramPercentiles(out []byte) (p50, p99 float64, err error) {
	type bucket struct{ us, n uint64 }
	var bs []bucket
	var total, maxUs uint64
	over := regexp.MustCompile(`# Histogram Overflows: (\d+)`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		us, e1 := strconv.ParseUint(f[0], 10, 64)
		n, e2 := strconv.ParseUint(f[1], 10, 64)
		if e1 != nil || e2 != nil {
			continue
		}
		bs = append(bs, bucket{us, n})
		total += n
		maxUs = max(maxUs, us)
	}
	if m := over.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseUint(string(m[1]), 10, 64)
		bs = append(bs, bucket{maxUs + 1, n})
		total += n
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("empty histogram")
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].us < bs[j].us })
	at := func(p float64) float64 {
		rank := uint64(p/100*float64(total) + 0.999999999)
		var seen uint64
		for _, b := range bs {
			seen += b.n
			if seen >= rank {
				return float64(b.us) * 1000
			}
		}
		return float64(bs[len(bs)-1].us) * 1000
	}
	return at(50), at(99), nil
}
