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

// stop stops watching; it returns the signal that came, if any.
func (s *signals) stop() (syscall.Signal, bool) {
	signal.Stop(s.ch)
	sig, ok := s.got.Load().(syscall.Signal)
	return sig, ok
}

// run executes a script and reports its result.
func (c *cli) run(path string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if c.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, c.timeout,
			&starlib.Interruption{Reason: "timeout", Msg: fmt.Sprintf("timed out after %v (--timeout)", c.timeout)})
		defer stop()
	}
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
	var sched *schedJSON
	opts := starlib.Options{Params: c.params, Args: c.script}
	if c.sched.path != "" {
		p, rec, err := c.startScheduler(ctx)
		if err != nil {
			sigs.stop()
			c.printError(schedulerErr(err))
			return exitError
		}
		opts.Scheduler, sched = p, rec
	}
	facts := host(opts.Scheduler)
	live := c.live()
	opts.Progress = sessionProgress(live)
	sess := starlib.NewSession(opts)
	host := &engine.Host{Predeclared: sess.Predeclared(), Out: live.Writer(c.stdout)}
	start := time.Now()
	_, err := host.Run(ctx, path)
	if err != nil {
		// The spawns still running keep their data.
		sess.Interrupt(ctx, interruptReason(ctx, err))
	}
	sess.Close() // every worker the script left running is killed and reaped
	if sched != nil {
		stopScheduler(opts.Scheduler, sched)
	}
	if cerr := sess.CleanupErr(); cerr != nil {
		c.printError("ktstar: cleanup: " + cerr.Error())
	}
	elapsed := time.Since(start)
	sig, signalled := sigs.stop()

	status := exitOK
	var fe *starlib.FailError
	switch {
	case signalled:
		status = exitSignal + int(sig)
	case errors.As(err, &fe):
		status = exitFail
	case err != nil:
		status = exitError
	case len(killedFromOutside(sess.Runs())) > 0:
		status = exitFail
	}
	if jout != nil {
		if jerr := c.writeJSON(jout, path, start, elapsed, sess, facts, sched, status, err); jerr != nil {
			c.printError("ktstar: " + jerr.Error())
			if status == exitOK {
				status = exitError
			}
		}
	}
	if serr := c.summary(sess.Runs(), sess.Checks(), facts.inCharge()); serr != nil {
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

// schemaVersion numbers the layout of the --json document; a reader
// checks it before trusting a field. A file without it is version 1.
// 2: reports carry sample_kind, wake_stats and wake_latencies_note; group
// rows carry sample_kind, exact wake aggregates and run delay.
const schemaVersion = 2

// output is the --json document.
type output struct {
	SchemaVersion int                 `json:"schema_version"`
	Version       string              `json:"ktstar_version"`
	Script        string              `json:"script"`
	Args          []string            `json:"args"`
	Params        map[string]string   `json:"params"`
	StartTime     time.Time           `json:"start_time"`
	DurationNs    int64               `json:"duration_ns"`
	Host          hostFacts           `json:"host"`
	ExitStatus    int                 `json:"exit_status"`
	Error         string              `json:"error,omitempty"`
	Runs          []runJSON           `json:"runs"`
	Checks        []starlib.CheckCall `json:"checks"` // every checks.evaluate and checks.require call
	// Scheduler is the --scheduler process: how it was started, when it
	// was ready, how it ended and everything it printed.
	Scheduler *schedJSON `json:"scheduler,omitempty"`
	// SchedulerFaults say when and why a scenario step failed because its
	// scheduler died or sched_ext changed.
	SchedulerFaults []starlib.SchedulerFault `json:"scheduler_faults,omitempty"`
}

// runJSON is one stopped spawn with the summary of each of its groups.
type runJSON struct {
	starlib.Run
	Groups []summary.Row `json:"groups"`
}

// hostFacts describe the machine a run measured.
type hostFacts struct {
	KernelRelease string `json:"kernel_release"`
	CPUCount      int    `json:"cpu_count"` // online CPUs
	CPUModel      string `json:"cpu_model"`
	Version       string `json:"ktstar_version"`
	schedFacts
}

func (c *cli) writeJSON(jout *jsonOut, path string, start time.Time, elapsed time.Duration, sess *starlib.Session, facts hostFacts, sched *schedJSON, status int, runErr error) error {
	out := output{Scheduler: sched, SchedulerFaults: sess.SchedulerFaults(),
		SchemaVersion: schemaVersion, Version: version, Script: vm.HostPaths(path), Args: c.script, Params: c.params,
		StartTime: start, DurationNs: elapsed.Nanoseconds(), Host: facts,
		ExitStatus: status, Runs: []runJSON{}, Checks: sess.Checks(),
	}
	for _, r := range sess.Runs() {
		out.Runs = append(out.Runs, runJSON{Run: r, Groups: summary.Rows(runUnits(r))})
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	if out.Checks == nil {
		out.Checks = []starlib.CheckCall{}
	}
	if runErr != nil {
		out.Error = vm.HostPaths(runErr.Error())
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode --json: %w", err)
	}
	return jout.commit(append(b, '\n'))
}

// host reads the facts that are cheap to get; a fact that cannot be read
// stays empty rather than failing the run. sched is --scheduler's process
// (nil without one).
func host(sched *scheduler.Process) hostFacts {
	name := ""
	if sched != nil {
		name = sched.Name
	}
	h := hostFacts{Version: version, schedFacts: readSchedFacts(name)}
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
	sess := starlib.NewSession(starlib.Options{Params: c.params, Args: c.script, CheckOnly: true})
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
	sess := starlib.NewSession(starlib.Options{Params: c.params, Args: c.script})
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
			if err := c.summary(runs[shown:], nil, ""); err != nil {
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
