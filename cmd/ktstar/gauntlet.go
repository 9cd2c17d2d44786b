package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/vm"
)

const gauntletUsage = `ktstar gauntlet runs every scenario on every preset, kernel and scheduler
flag profile, each cell in a throwaway guest of its own, several at once.

Usage:
  ktstar gauntlet [flags] SCENARIO...        SCENARIO: a SCRIPT.star or a catalog entry's name
  ktstar gauntlet merge -o OUT DIR...        join shards' results into OUT
  ktstar gauntlet show DIR                   the matrix summary of a results directory

Results go to --out: one ktstar --json result, output log and record per
cell under cells/SCENARIO/PRESET/PROFILE/KERNEL, and index.jsonl with one
record per finished cell. Running the same command again skips the cells
that have a record and runs the rest, so a killed gauntlet resumes
(--rerun error runs the errored cells again too).

Sharding: --shard i/n, or a job runner's index variable (Kubernetes
Indexed Job: JOB_COMPLETION_INDEX with --shard-count; Slurm array:
SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; GitLab CI_NODE_INDEX and
CI_NODE_TOTAL; CircleCI and Buildkite likewise), runs every n-th cell;
shards given the same matrix cover each cell once, and
ktstar gauntlet merge joins their directories.

Exit status: 0 every cell passed or skipped; 1 a cell failed or errored;
2 a usage error; 128+n after signal n (running cells are dropped: a rerun
runs them).

Flags:
`

// gauntletMain runs `ktstar gauntlet ARGS`.
func gauntletMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "merge":
			return gauntletMerge(args[1:], stdout, stderr)
		case "show":
			return gauntletShow(args[1:], stdout, stderr)
		}
	}
	c := &cli{stdout: stdout, stderr: stderr}
	var (
		base                  vm.Options
		presets, kernels      []string
		flagNames             []string
		flagArgs, flagReqs    []string
		rerun                 []string
		memory, shardArg, out string
		files                 []string
		sched                 schedFlags
		jobs, shardCount      int
		onHost, quiet         bool
		fs                    = pflag.NewFlagSet("ktstar gauntlet", pflag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.StringSliceVar(&presets, "preset", []string{"tiny-1llc", "tiny-2llc"}, "guest shapes `NAME,...` (ktstar presets) or NnLlCcTt shapes; repeatable")
	fs.StringArrayVar(&kernels, "kernel", nil, "boot this bzImage, `[LABEL=]PATH` (repeatable: each kernel is a dimension); default Debian's cloud kernel")
	sched.add(fs)
	fs.StringSliceVar(&flagNames, "flags", nil, "scheduler flags `NAME,...`: every valid combination is a profile (default, each alone, ...); a flag adds --NAME to the scheduler's arguments unless --flag-args says otherwise")
	fs.StringArrayVar(&flagArgs, "flag-args", nil, "`NAME=ARGS`: the scheduler arguments flag NAME adds (space-separated; repeatable)")
	fs.StringArrayVar(&flagReqs, "flag-requires", nil, "`NAME=OTHER,...`: profiles with flag NAME have OTHER on too (as ktstr's requires; repeatable)")
	fs.StringVarP(&out, "out", "o", "gauntlet-results", "the results `DIR` (created; a rerun resumes it)")
	fs.IntVarP(&jobs, "jobs", "j", 0, "cells at once (default: host CPUs, fewer if memory would not hold their guests)")
	fs.StringVar(&shardArg, "shard", "", "run shard `i/n` of the cells (0-based); default from a job runner's index variables")
	fs.StringSliceVar(&rerun, "rerun", nil, "run again the finished cells of these statuses `STATUS,...` (error, fail, skip, pass), e.g. --rerun error after guests that timed out")
	fs.IntVar(&shardCount, "shard-count", 0, "the task count `N` for an index variable that comes without one (JOB_COMPLETION_INDEX)")
	fs.StringVar(&base.Accel, "accel", vm.AccelAuto, "accelerator `MODE`: auto, kvm or tcg (as ktstar vm)")
	fs.StringVar(&memory, "memory", "", "guest RAM `SIZE` for every cell (default the preset's: 1G, or 64M a CPU)")
	fs.DurationVar(&base.Timeout, "timeout", 10*time.Minute, "interrupt a cell's script after it has run this long in its guest (the boot is bounded by --boot-timeout)")
	fs.DurationVar(&base.BootTimeout, "boot-timeout", vm.DefaultBootTimeout, bootTimeoutHelp+" (the cell is an error; --rerun error runs it again)")
	fs.StringArrayVar(&files, "file", nil, "copy `HOST[:GUEST]` into every guest (as ktstar vm --file)")
	fs.StringVar(&base.Append, "append", "", "extra kernel command line `ARGS` for every guest")
	fs.StringArrayVar(&base.Run.Set, "set", nil, "params[`KEY`]=VALUE for every cell's script (repeatable)")
	fs.IntVar(&base.Run.Repeat, "repeat", 1, "run each cell's script `N` times in its guest, into one result")
	fs.BoolVar(&onHost, "host", false, "run each cell's script on this machine instead of a guest (presets and kernels are then labels only): to try a matrix out")
	fs.BoolVarP(&quiet, "quiet", "q", false, "no line per cell, only the summary")
	usageErr, code, done := c.parseSubcommand(fs, "gauntlet", gauntletUsage, args, stderr)
	if done {
		return code
	}
	m, err := gauntletMatrix(fs.Args(), presets, kernels, sched.path, flagNames, flagArgs, flagReqs)
	if err != nil {
		return usageErr("%v", err)
	}
	unmet, err := catalogFacts(&m)
	if err != nil {
		return usageErr("%v", err)
	}
	shard, err := gauntletShard(shardArg, shardCount, stderr, quiet)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := guestFlags(&base, memory, files); err != nil {
		return usageErr("%v", err)
	}
	if base.Timeout <= 0 {
		return usageErr("--timeout %v: want a positive duration", base.Timeout)
	}
	for _, st := range rerun {
		if !slices.Contains([]string{gauntlet.Pass, gauntlet.Fail, gauntlet.Skip, gauntlet.Error}, st) {
			return usageErr("--rerun %q: want pass, fail, skip or error", st)
		}
	}
	if jobs < 0 {
		return usageErr("--jobs %d: want 1 or more (0: automatic)", jobs)
	}
	if jobs == 0 {
		jobs = autoJobs(m, base.Memory)
	}
	base.Run.Quiet = true
	base.Run.Scheduler, base.Run.SchedulerArgs, base.Run.SchedulerReady, base.Run.SchedulerTimeout = sched.path, sched.args, sched.ready, sched.timeout

	res, err := gauntlet.Prepare(out, gauntlet.NewManifest(version, m, shard))
	if err != nil {
		c.printError("ktstar gauntlet: " + err.Error())
		return exitError
	}
	defer res.Close()
	if err := gauntlet.WriteCatalogScripts(out, &m); err != nil {
		c.printError("ktstar gauntlet: " + err.Error())
		return exitError
	}
	var runCell gauntlet.CellRunner
	if onHost {
		exe, err := os.Executable()
		if err != nil {
			return usageErr("--host: %v", err)
		}
		h := &gauntlet.Host{Matrix: m, Exe: exe, Args: []string{"-q"}, SchedulerArgs: sched.args, Timeout: base.Timeout}
		for _, kv := range base.Run.Set {
			h.Args = append(h.Args, "--set", kv)
		}
		if base.Run.Repeat > 1 {
			h.Args = append(h.Args, "--repeat", fmt.Sprint(base.Run.Repeat))
		}
		if sched.path != "" {
			h.Args = append(h.Args, "--scheduler", sched.path, "--scheduler-ready", sched.ready, "--scheduler-timeout", sched.timeout.String())
		}
		runCell = h.Run
	} else {
		runCell = (&gauntlet.Guest{Matrix: m, Base: base, Unmet: unmetFunc(unmet)}).Run
	}
	cells := shard.Select(m.Cells())
	where := "guests"
	if onHost {
		where = "this machine"
	}
	fmt.Fprintf(stderr, "ktstar gauntlet: %d cells (shard %s of %d), %d at once on %s, results in %s\n",
		len(cells), shard, len(m.Cells()), jobs, where, out)
	return c.runGauntlet(res, gauntlet.Options{Results: res, Cells: cells, Shard: shard, Jobs: jobs, Run: runCell, Rerun: rerun}, quiet)
}

// runGauntlet executes the cells with progress lines on stderr, then
// prints the matrix summary on stdout.
func (c *cli) runGauntlet(res *gauntlet.Results, o gauntlet.Options, quiet bool) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := watchSignals(cancel, nil, c.stderr)
	o.Progress = func(p gauntlet.Progress) {
		if quiet {
			return
		}
		switch {
		case p.Last != nil:
			fmt.Fprintf(c.stderr, "[%d/%d] %-5s %s (%.1fs) · %s\n", p.Done, p.Total, p.Last.Status, p.Last.Key,
				time.Duration(p.Last.DurationNs).Seconds(), progressCounts(p))
		case p.Done == p.Resumed && len(p.Running) == 0 && p.Resumed > 0:
			fmt.Fprintf(c.stderr, "ktstar gauntlet: %d cells done by an earlier run: skipped\n", p.Resumed)
		}
	}
	err := gauntlet.Execute(ctx, o)
	sig, signalled := sigs.stop()
	if signalled {
		c.printError(fmt.Sprintf("ktstar gauntlet: interrupted by %s; the cells running were dropped (a rerun runs them)", unix.SignalName(sig)))
		return exitSignal + int(sig)
	}
	if err != nil {
		c.printError("ktstar gauntlet: " + err.Error())
		return exitError
	}
	return c.showMatrix(res)
}

// progressCounts is the tail of a progress line: the counts and the ETA.
func progressCounts(p gauntlet.Progress) string {
	s := fmt.Sprintf("%d passed, %d failed, %d skipped, %d errors", p.Passed, p.Failed, p.Skipped, p.Errors)
	if len(p.Running) > 0 {
		s += fmt.Sprintf(", %d running", len(p.Running))
	}
	if left := p.Total - p.Done; left > 0 && p.ETA > 0 {
		s += fmt.Sprintf(", ETA %s", p.ETA.Round(time.Second))
	}
	return s
}

// showMatrix prints the summary and returns 1 when a cell failed or
// errored.
func (c *cli) showMatrix(res *gauntlet.Results) int {
	if err := res.WriteMatrix(c.stdout); err != nil {
		c.printError("ktstar gauntlet: " + err.Error())
		return exitError
	}
	for _, rec := range res.Records {
		if rec.Status == gauntlet.Fail || rec.Status == gauntlet.Error {
			return exitFail
		}
	}
	return exitOK
}

// gauntletMatrix builds the matrix from the command line.
func gauntletMatrix(args, presets, kernels []string, sched string, flagNames, flagArgs, flagReqs []string) (gauntlet.Matrix, error) {
	var m gauntlet.Matrix
	if len(args) == 0 {
		return m, errors.New("want at least one SCENARIO (a SCRIPT.star or a catalog entry's name)")
	}
	for _, a := range args {
		s, err := gauntlet.ParseScenario(a)
		if err != nil {
			return m, err
		}
		if s.Script != "" {
			if _, err := os.Stat(s.Script); err != nil {
				return m, fmt.Errorf("scenario %s: %w", a, err)
			}
		}
		m.Scenarios = append(m.Scenarios, s)
	}
	for _, name := range presets {
		p, err := vm.ParsePreset(name)
		if err != nil {
			return m, fmt.Errorf("--%w", err)
		}
		m.Presets = append(m.Presets, p)
	}
	for _, k := range kernels {
		kernel, err := gauntlet.ParseKernel(k)
		if err != nil {
			return m, err
		}
		if _, err := os.Stat(kernel.Path); err != nil {
			return m, fmt.Errorf("--kernel %s: %w", k, err)
		}
		m.Kernels = append(m.Kernels, kernel)
	}
	if len(flagNames) > 0 {
		if sched == "" {
			return m, errors.New("--flags needs --scheduler: the flags are its arguments")
		}
		flags, err := gauntletFlags(flagNames, flagArgs, flagReqs)
		if err != nil {
			return m, err
		}
		if m.Profiles, err = gauntlet.Profiles(flags); err != nil {
			return m, err
		}
	} else if len(flagArgs)+len(flagReqs) > 0 {
		return m, errors.New("--flag-args and --flag-requires need --flags")
	}
	return m, m.Validate()
}

// gauntletFlags reads --flags, --flag-args and --flag-requires.
func gauntletFlags(names, args, reqs []string) ([]gauntlet.Flag, error) {
	flags := make([]gauntlet.Flag, len(names))
	idx := map[string]int{}
	for i, n := range names {
		flags[i] = gauntlet.Flag{Name: n, Args: []string{"--" + n}}
		idx[n] = i
	}
	for _, kv := range args {
		name, val, ok := strings.Cut(kv, "=")
		i, known := idx[name]
		if !ok || !known {
			return nil, fmt.Errorf("--flag-args %q: want NAME=ARGS with NAME one of --flags (%s)", kv, strings.Join(names, ", "))
		}
		flags[i].Args = strings.Fields(val)
	}
	for _, kv := range reqs {
		name, val, ok := strings.Cut(kv, "=")
		i, known := idx[name]
		if !ok || !known || val == "" {
			return nil, fmt.Errorf("--flag-requires %q: want NAME=OTHER,... with NAME one of --flags (%s)", kv, strings.Join(names, ", "))
		}
		flags[i].Requires = append(flags[i].Requires, strings.Split(val, ",")...)
	}
	return flags, nil
}

// gauntletShard reads --shard, else a job runner's variables.
func gauntletShard(arg string, count int, stderr io.Writer, quiet bool) (gauntlet.Shard, error) {
	if count < 0 {
		return gauntlet.Shard{}, fmt.Errorf("--shard-count %d: want 1 or more", count)
	}
	if arg != "" {
		if count > 0 {
			return gauntlet.Shard{}, errors.New("--shard-count goes with an index variable, not --shard i/n")
		}
		return gauntlet.ParseShard(arg)
	}
	s, from, ok, err := gauntlet.FromEnv(os.Getenv, count)
	if err != nil {
		return s, err
	}
	if !ok && count > 0 {
		return s, errors.New("--shard-count: no job runner's index variable is set (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, ...)")
	}
	if ok && !quiet {
		fmt.Fprintf(stderr, "ktstar gauntlet: shard %s from %s\n", s, from)
	}
	return s, nil
}

// autoJobs is how many guests run at once: one per host CPU, fewer when
// three quarters of the available memory would not hold them.
func autoJobs(m gauntlet.Matrix, memory int64) int {
	need := memory
	for _, p := range m.Presets {
		if memory == 0 {
			need = max(need, p.Memory())
		}
	}
	avail := int64(0)
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if mi, err := fs.Meminfo(); err == nil && mi.MemAvailableBytes != nil {
			avail = int64(*mi.MemAvailableBytes)
		}
	}
	return gauntlet.AutoJobs(runtime.NumCPU(), avail, need)
}

// gauntletMerge runs `ktstar gauntlet merge -o OUT DIR...`.
func gauntletMerge(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	c.setColor("auto", stderr)
	var out string
	fs := pflag.NewFlagSet("ktstar gauntlet merge", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVarP(&out, "out", "o", "", "the new results `DIR` the shards are merged into")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "ktstar gauntlet merge: %v\n", err)
		return exitError
	}
	if out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "ktstar gauntlet merge: want -o OUT and at least one results DIR")
		return exitError
	}
	notes, err := gauntlet.Merge(out, fs.Args())
	for _, n := range notes {
		fmt.Fprintln(stderr, "ktstar gauntlet merge: "+n)
	}
	if err != nil {
		c.printError("ktstar gauntlet merge: " + err.Error())
		return exitError
	}
	res, err := gauntlet.Open(out)
	if err != nil {
		c.printError("ktstar gauntlet merge: " + err.Error())
		return exitError
	}
	return c.showMatrix(res)
}

// gauntletShow runs `ktstar gauntlet show DIR`.
func gauntletShow(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	c.setColor("auto", stderr)
	if len(args) != 1 {
		fmt.Fprintf(stderr, "ktstar gauntlet show: want one results DIR, got %d argument(s)\n", len(args))
		return exitError
	}
	res, err := gauntlet.Open(args[0])
	if err != nil {
		c.printError("ktstar gauntlet show: " + err.Error())
		return exitError
	}
	return c.showMatrix(res)
}
