package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/progress"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/scheduler"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/vm"
	"github.com/prometheus/procfs"
	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"
)

// terminating lists every catchable signal whose default action ends the
// process: each one ends a run as SIGINT does, with every worker stopped
// and collected, every cgroup and scratch file removed, and exit status
// 128+n. SIGPIPE (stdout closed, as in "ktstar x.star | head -1") is among
// them: once notified, a write to the closed pipe fails instead of killing
// ktstar on the spot.
var terminating = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGPIPE,
	syscall.SIGALRM, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGXCPU, syscall.SIGXFSZ,
	syscall.SIGVTALRM,
}

// signals cancels ctx at the first terminating signal and remembers which
// one came; a second one exits at once (workers die with ktstar through
// their parent-death signal).
type signals struct {
	ch     chan os.Signal
	got    atomic.Value           // syscall.Signal
	atExit atomic.Pointer[func()] // run before a second signal exits
}

func watchSignals(cancel context.CancelCauseFunc, interrupt chan<- struct{}, stderr io.Writer) *signals {
	s := &signals{ch: make(chan os.Signal, 2)}
	signal.Notify(s.ch, terminating...)
	go func() {
		for sig := range s.ch {
			sn := sig.(syscall.Signal)
			if interrupt != nil && sn == syscall.SIGINT {
				// In the REPL, Ctrl-C cancels the statement, not the session.
				select {
				case interrupt <- struct{}{}:
				default:
				}
				continue
			}
			if sn == syscall.SIGQUIT && os.Getenv("GOTRACEBACK") != "" {
				// Go's own SIGQUIT dump, for whoever asked for tracebacks.
				buf := make([]byte, 1<<20)
				stderr.Write(buf[:runtime.Stack(buf, true)])
			}
			if sn == syscall.SIGPIPE && s.got.Load() != nil {
				// Every write to the closed pipe until the run ends sends
				// one more: only the first counts.
				continue
			}
			if s.got.Load() != nil {
				if f := s.atExit.Load(); f != nil {
					(*f)()
				}
				os.Exit(exitSignal + int(sn))
			}
			s.got.Store(sn)
			name := unix.SignalName(sn)
			cancel(&starlib.Interruption{Reason: name, Msg: "interrupted by " + name})
		}
	}()
	return s
}

// caught returns the signal that came so far, if any.
func (s *signals) caught() (syscall.Signal, bool) {
	sig, ok := s.got.Load().(syscall.Signal)
	return sig, ok
}

// stop stops watching; it returns the signal that came, if any.
func (s *signals) stop() (syscall.Signal, bool) {
	signal.Stop(s.ch)
	return s.caught()
}

// run executes a script --repeat times and reports the result.
func (c *cli) run(path string) int {
	live := c.live()
	// One watch for every repetition: a signal ends the repetition under
	// way, collecting its spawns, and no other starts.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := watchSignals(cancel, nil, c.stderr)
	var jout *jsonOut
	if c.json != "" {
		var err error
		if jout, err = openJSONOut(c.json); err != nil {
			sigs.stop()
			c.printError("ktstar: " + err.Error())
			return exitError
		}
		defer jout.abort()
		abort := jout.abort
		sigs.atExit.Store(&abort)
	}
	// --scheduler starts once, before the first repetition, and every
	// repetition's scenarios watch the same process.
	var sched *scheduler.Process
	var rec *result.Scheduler
	if c.sched.path != "" {
		var err error
		if sched, rec, err = c.startScheduler(ctx); err != nil {
			sigs.stop()
			c.printError(schedulerErr(err))
			return exitError
		}
	}
	start := time.Now()
	doc := result.Doc{
		SchemaVersion: result.SchemaVersion, Version: version, Script: vm.HostPaths(path), Args: c.script, Params: c.params,
		StartTime: start, Host: host(sched), Repeat: c.repeat,
		Runs: []result.Run{}, Checks: []result.Check{}, Scheduler: rec,
	}
	if doc.Args == nil {
		doc.Args = []string{}
	}
	status := exitOK
	var err error
	// A failed check, fail() or a worker killed from outside (exit 1) is
	// a measurement like any other: the repetitions go on. A script error
	// or a signal ends them. The first repetition that did not succeed
	// decides the exit status, a signal always.
	for rep := 0; rep < c.repeat; rep++ {
		repStart := time.Now()
		runs, calls, faults, rerr := c.runOnce(ctx, path, live, sched)
		rsig, rsignalled := sigs.caught()
		rs := exitOK
		var fe *starlib.FailError
		switch {
		case rsignalled:
			rs = exitSignal + int(rsig)
		case errors.As(rerr, &fe):
			rs = exitFail
		case rerr != nil:
			rs = exitError
		case len(killedFromOutside(runs)) > 0:
			rs = exitFail
		}
		if rs != exitOK && (status == exitOK || rsignalled) {
			status, err = rs, rerr
		}
		r := result.Repetition{StartTime: repStart, DurationNs: time.Since(repStart).Nanoseconds(), ExitStatus: rs}
		if rerr != nil {
			r.Error = vm.HostPaths(rerr.Error())
		}
		doc.Repetitions = append(doc.Repetitions, r)
		for _, run := range runs {
			doc.Runs = append(doc.Runs, result.Run{Run: run, Repetition: rep, Groups: summary.Rows(run.RowUnits())})
		}
		for _, call := range calls {
			doc.Checks = append(doc.Checks, result.Check{CheckCall: call, Repetition: rep})
		}
		for _, f := range faults {
			doc.SchedulerFaults = append(doc.SchedulerFaults, result.SchedulerFault{SchedulerFault: f, Repetition: rep})
		}
		if rs != exitOK && rs != exitFail {
			break
		}
	}
	if sched != nil {
		stopScheduler(sched, rec)
	}
	sig, signalled := sigs.stop()
	if signalled && status != exitSignal+int(sig) {
		// The signal came after the last repetition's script ended.
		status = exitSignal + int(sig)
	}
	doc.Repeat = len(doc.Repetitions)
	doc.DurationNs = time.Since(start).Nanoseconds()
	doc.ExitStatus = status
	if err != nil {
		doc.Error = vm.HostPaths(err.Error())
	}
	if jout != nil {
		if jerr := c.writeJSON(jout, &doc); jerr != nil {
			c.printError("ktstar: " + jerr.Error())
			if status == exitOK {
				status = exitError
			}
		}
	}
	if serr := c.summary(&doc, false); serr != nil {
		c.printError("ktstar: summary: " + serr.Error())
	}
	switch {
	case signalled:
		c.printError(fmt.Sprintf("ktstar: interrupted by %s; every worker stopped", unix.SignalName(sig)))
	case err != nil:
		c.printError(vm.HostPaths(err.Error()))
	}
	return status
}

// runOnce runs the script once in a session of its own (fresh spawns,
// the same arguments), under ctx and --timeout, with sched (--scheduler's,
// or nil) as scheduler.current(), and returns what it stopped and checked
// and the scheduler faults that failed scenario steps: when the script
// ended early, the spawns still running are collected too, marked
// interrupted.
func (c *cli) runOnce(ctx context.Context, path string, live *progress.Live, sched *scheduler.Process) (runs []starlib.Run, calls []starlib.CheckCall, faults []starlib.SchedulerFault, err error) {
	sess := starlib.NewSession(starlib.Options{Params: c.params, Args: c.script, Progress: sessionProgress(live),
		Interval: c.timelineInterval(), WorkOverride: c.workOverride, MaxWorkers: c.maxWorkers, Scheduler: sched})
	host := &engine.Host{Predeclared: sess.Predeclared(), Out: live.Writer(c.stdout)}
	if c.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, c.timeout,
			&starlib.Interruption{Reason: "timeout", Msg: fmt.Sprintf("timed out after %v (--timeout)", c.timeout)})
		defer stop()
	}
	_, err = host.Run(ctx, path)
	if err != nil {
		// The spawns still running keep their data.
		sess.Interrupt(ctx, interruptReason(ctx, err))
	}
	sess.Close() // every worker the script left running is killed and reaped
	if cerr := sess.CleanupErr(); cerr != nil {
		c.printError("ktstar: cleanup: " + cerr.Error())
	}
	return sess.Runs(), sess.Checks(), sess.SchedulerFaults(), err
}

// interruptReason names why a script ended early, for Run.Interrupted:
// its context's Interruption (--timeout, a signal), fail,
// checks.require, or error.
func interruptReason(ctx context.Context, err error) string {
	var in *starlib.Interruption
	if errors.As(context.Cause(ctx), &in) {
		return in.Reason
	}
	var fe *starlib.FailError
	if errors.As(err, &fe) {
		if fe.By != "" {
			return fe.By
		}
		return "fail"
	}
	return "error"
}

func (c *cli) writeJSON(jout *jsonOut, doc *result.Doc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode --json: %w", err)
	}
	return jout.commit(append(b, '\n'))
}

// host reads the facts that are cheap to get; a fact that cannot be read
// stays empty rather than failing the run. sched is --scheduler's process
// (nil without one).
func host(sched *scheduler.Process) result.Host {
	name := ""
	if sched != nil {
		name = sched.Name
	}
	var h result.Host
	readSchedFacts(&h, name)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.KernelRelease = unix.ByteSliceToString(u.Release[:])
	}
	if cpus, err := topo.OnlineCPUs(); err == nil {
		h.CPUCount = len(cpus)
	}
	h.CPUModel = cpuModel()
	return h
}

// cpuModel returns the first CPU's model name from /proc/cpuinfo, as
// prometheus/procfs parses it ("" when it cannot).
func cpuModel() string {
	proc, err := procfs.NewDefaultFS()
	if err != nil {
		return ""
	}
	cpus, err := proc.CPUInfo()
	if err != nil || len(cpus) == 0 {
		return ""
	}
	return cpus[0].ModelName
}

// check parses and resolves a script and what it loads, then runs it
// with validation-only stand-ins for everything that acts (see
// starlib.Options.CheckOnly): the first error is the one a real run
// would stop at. fail() and failed checks, which depend on measured
// values the stand-ins do not have, are not errors here.
func (c *cli) check(path string) int {
	sess := starlib.NewSession(starlib.Options{Params: c.params, Args: c.script, MaxWorkers: c.maxWorkers, CheckOnly: true, WorkOverride: c.workOverride})
	defer sess.Close()
	host := &engine.Host{Predeclared: sess.Predeclared()}
	if err := host.Check(path); err != nil {
		c.printError(err.Error())
		return exitError
	}
	ctx := context.Background()
	if c.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, c.timeout, fmt.Errorf("timed out after %v (--timeout)", c.timeout))
		defer stop()
	}
	var fe *starlib.FailError
	_, err := host.Run(ctx, path)
	switch {
	case err == nil, errors.As(err, &fe):
	case sess.StandIns() && !engine.RaisedByBuiltin(err):
		// Past a stop(), the script computes on stand-in reports: an
		// error of its own there says nothing about a real run.
		if !c.quiet {
			first, _, _ := strings.Cut(err.Error(), "\n")
			c.warnc.Fprintf(c.stderr, "%s: followed until the script used measured values: %s\n", path, first)
		}
	default:
		c.printError(err.Error())
		return exitError
	}
	if !c.quiet {
		c.okc.Fprintf(c.stderr, "%s: ok\n", path)
	}
	return exitOK
}

// repl runs an interactive session on stdin: every builtin, plus
// help(x); after a statement that stopped spawns, their summary table.
func (c *cli) repl(stdin io.Reader) int {
	sess := starlib.NewSession(starlib.Options{Params: c.params, Args: c.script, MaxWorkers: c.maxWorkers, WorkOverride: c.workOverride})
	defer sess.Close()
	pre := sess.Predeclared()
	pre["help"] = starlark.NewBuiltin("help", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		io.WriteString(c.stdout, starlib.Help(v))
		return starlark.None, nil
	})
	host := &engine.Host{Predeclared: pre, Out: c.stdout}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	interrupt := make(chan struct{}, 1)
	sigs := watchSignals(cancel, interrupt, c.stderr)
	shown := 0 // runs whose summary was printed
	afterEval := func() {
		if runs := sess.Runs(); len(runs) > shown {
			doc := result.Doc{Repeat: 1}
			for _, r := range runs[shown:] {
				doc.Runs = append(doc.Runs, result.Run{Run: r})
			}
			if err := c.summary(&doc, false); err != nil {
				c.printError("ktstar: summary: " + err.Error())
			}
			shown = len(runs)
		}
	}
	err := host.REPL(ctx, engine.REPLIO{In: stdin, Out: c.stdout, Err: c.stderr, Interrupt: interrupt, AfterEval: afterEval})
	sess.Close()
	if sig, ok := sigs.stop(); ok {
		return exitSignal + int(sig)
	}
	if err != nil {
		c.printError("ktstar repl: " + err.Error())
		return exitError
	}
	return exitOK
}
