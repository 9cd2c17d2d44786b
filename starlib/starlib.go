// Package starlib holds ktstar's Go-implemented Starlark modules, one file
// each, and the per-run [Session] that ties them to the workers a script
// spawns.
//
// The names a script sees (see [Session.Predeclared]):
//
//	work       work-type constructors generated from the catalog (work.go)
//	phase      Sequence phases: spin, sleep, sched_yield, io, alu_hot (phase.go)
//	workload   workload(workers=, work=, affinity=, policy=, nice=, comm=) (workload.go)
//	affinity   inherit(), exact(cpus), random_subset(cpus, n) (affinity.go)
//	sched      normal(), batch(), idle(), fifo(p), rr(p) (sched.go)
//	spawn      spawn(cfg, cgroup = None) -> handle (spawn.go)
//	cgroup     create(name, cpuset =), cpuset_available(), cpuset_reason() (cgroup.go)
//	cpus       cpuset specs: llc, numa, range, disjoint, overlap, exact (cpus.go)
//	topo       cpus, usable_cpus, llcs, numa_nodes, smt_siblings, cpuset(spec) (topo.go)
//	scheduler  start(path, args), attach(pid), current() (scheduler.go)
//	scenario_ops  Go helpers of @stdlib//scenario.star (scenario_ops.go)
//	sleep      sleep(d), showing progress through Options.Progress (builtins.go)
//	fail       fail(msg) (builtins.go)
//	stats      percentile(s), mean, stdev, cv, min, max, sum, count (stats.go)
//	checks     evaluate, require, settings, default, names (checks.go)
//	params     frozen dict of --set key=value (builtins.go)
//	args       frozen list of the arguments after `--` (builtins.go)
//	time, json, math   go.starlark.net's lib/time, lib/json, lib/math
//
// Duration and CPU-list parameters unpack themselves (args.go), and every
// value prints as the script that makes it, so printed values paste back.
// starlib knows no terminal: the command shows progress through the
// [Progress] interface.
package starlib

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/scheduler"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	timelib "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// contextKey is the thread-local key of the run's context.Context, the
// convention of go.starlark.net/repl that ktstar's engine follows.
const contextKey = "context"

// threadContext returns the context a blocking builtin must watch.
func threadContext(thread *starlark.Thread) context.Context {
	if ctx, ok := thread.Local(contextKey).(context.Context); ok {
		return ctx
	}
	return context.Background()
}

// Options configure one Session.
type Options struct {
	Params map[string]string // --set key=value, read by scripts as params
	Args   []string          // the script's arguments (after `--`)
	// Topology, when non-nil, replaces the host's for cpus, topo and
	// affinity resolution (tests use sysfs fixtures).
	Topology *topo.Topology
	// Progress shows the running handles while the script holds; nil
	// shows nothing (not a terminal, --json pipelines, tests).
	Progress Progress
	// Interval, when positive, samples every started spawn's per-worker
	// iteration counts this often into its Run's Timeline.
	Interval time.Duration
	// CheckOnly validates without acting (ktstar check): spawn, sleep and
	// cgroup changes are validation-only stand-ins (checkonly.go), so the
	// script runs through every check a real run makes before it acts.
	CheckOnly bool
	// MaxWorkers is the per-spawn ceiling on workers (--max-workers); 0
	// is workload.DefaultMaxWorkers.
	MaxWorkers int
	// Scheduler is the scheduler --scheduler started (scheduler.current());
	// the command stops it, not the session.
	Scheduler *scheduler.Process
	// SchedFS, when set, replaces /sys/kernel for sched_ext's state files
	// (tests use fixtures).
	SchedFS fs.FS
	// Kmsg, when set, replaces reading /dev/kmsg for a sched_ext disable
	// reason (tests use fixtures).
	Kmsg func() ([]string, error)
	// WorkOverride is the work type (any spelling work.from_name takes)
	// that scenarios put in place of a swappable cgroup_def's work;
	// "" for none (runtime.md §1.8).
	WorkOverride string
}

// Progress shows the running spawns while a script holds (ktstar draws
// them on a terminal). starlib only says what to show, not how.
type Progress interface {
	// Show displays groups for a hold of total (0 when unknown) until
	// the returned function is called. A hold inside a hold keeps the
	// outer display.
	Show(total time.Duration, groups []ProgressGroup) (stop func())
}

// ProgressGroup is one running spawn as progress shows it.
type ProgressGroup struct {
	Name     string
	Snapshot func() []uint64 // per-worker iteration counts
}

// Session is the state of one script run: the handles it spawned and the
// reports it collected. It is used from one goroutine (the script's).
type Session struct {
	opts    Options
	handles []*Handle
	spawned int            // handles spawned so far, which numbers them
	labels  map[string]int // spawns so far per base label (spawnLabel)
	// tidLabels maps each worker ever spawned to its spawn's label, so
	// that checks name units as the summary names rows.
	tidLabels map[int]string
	runs      []Run
	topo      *topo.Topology // read on first use
	topoErr   error
	cg        cgroupState
	started   []*scheduler.Process // by scheduler.start, stopped by Close
	faults    []SchedulerFault     // scheduler deaths and disables that failed steps
	checks    []CheckCall
	// standIns is set once a check-only session has handed the script
	// stand-in reports: from then on its values are not measurements.
	standIns bool
}

// Run is one spawn that was stopped: what was asked for and what each
// worker reported.
type Run struct {
	Handle   int               `json:"handle"` // the spawn's number in the run, from 1
	Label    string            `json:"label"`  // the stable name of its rows (SpawnLabel)
	Workload WorkloadJSON      `json:"workload"`
	Reports  []workload.Report `json:"reports"`
	// CgroupFallback, when set, says why the workers could not be created
	// inside their cgroup (clone3 CLONE_INTO_CGROUP) and were moved in
	// through cgroup.procs instead; a warning line said so at spawn.
	CgroupFallback string    `json:"cgroup_fallback,omitempty"`
	Timeline       *Timeline `json:"timeline,omitempty"` // with Options.Interval
	// Interrupted says why the spawn was collected by the run's end rather
	// than by the script's stop(): "timeout", a signal name ("SIGINT"),
	// "fail", "checks.require" or "error". Empty for a normal stop.
	Interrupted string `json:"interrupted,omitempty"`
}

// Name is the run's label; a result written before labels existed names
// it "#N Type".
func (r Run) Name() string {
	if r.Label == "" {
		return fmt.Sprintf("#%d %s", r.Handle, r.Workload.Work.Name())
	}
	return r.Label
}

// Units splits the run into the units its summary rows describe: one per
// group and cgroup, named after the run ("web", "web group 1"); with
// composed groups, group k is named after its own work too ("web group 1
// FutexPingPong"), so each row says what ran.
func (r Run) Units() []checks.Unit {
	units := nameUnits(checks.Units(r.Reports), r.Name())
	if len(r.Workload.Composed) == 0 {
		return units
	}
	groups := append([]WorkloadJSON{r.Workload}, r.Workload.Composed...)
	for i := range units {
		if g := units[i].Reports[0].GroupIdx; g < len(groups) {
			units[i].Name += " " + groups[g].Work.Label()
		}
	}
	return units
}

// RowUnits are the units of the run's summary rows: its Units, then,
// for a scenario's backdrop spawn, its StepUnits.
func (r Run) RowUnits() []checks.Unit {
	return append(r.Units(), r.StepUnits()...)
}

// StepUnits splits a backdrop spawn's reports by scenario step: for each
// step any worker has a phase slice of, the units of its workers' slices
// (workload.Report.StepReport), named "LABEL step K" after res.steps[K].
// Nil for a spawn without slices.
func (r Run) StepUnits() []checks.Unit {
	last := -1
	for i := range r.Reports {
		for j := range r.Reports[i].PhaseSlices {
			if k, ok := r.Reports[i].PhaseSlices[j].Step(); ok {
				last = max(last, k)
			}
		}
	}
	var out []checks.Unit
	for k := 0; k <= last; k++ {
		var reps []workload.Report
		for i := range r.Reports {
			if sr, ok := r.Reports[i].StepReport(k); ok {
				reps = append(reps, sr)
			}
		}
		if len(reps) > 0 {
			out = append(out, nameUnits(checks.Units(reps), fmt.Sprintf("%s step %d", r.Name(), k))...)
		}
	}
	return out
}

// nameUnits names units after the spawn they came from: label alone for a
// single unit, else label followed by the unit's cgroup or group.
func nameUnits(units []checks.Unit, label string) []checks.Unit {
	for i := range units {
		if len(units) == 1 && units[i].Cgroup == "" {
			units[i].Name = label
		} else {
			units[i].Name = label + " " + units[i].Name
		}
	}
	return units
}

// Interruption is the cause a command gives the run's context when it
// cancels it (--timeout, a signal): Reason goes into Run.Interrupted.
type Interruption struct {
	Reason string // "timeout", "SIGINT", ...
	Msg    string // the error text
}

func (e *Interruption) Error() string { return e.Msg }

// interruptReason is the Interruption reason of a cancelled ctx, or
// "cancelled" for any other cause.
func interruptReason(ctx context.Context) string {
	var in *Interruption
	if errors.As(context.Cause(ctx), &in) {
		return in.Reason
	}
	return "cancelled"
}

// NewSession starts the state of one run.
func NewSession(opts Options) *Session { return &Session{opts: opts} }

// Predeclared returns every name a script of this session sees. The dict
// is new on each call and the caller may freeze it.
func (s *Session) Predeclared() starlark.StringDict {
	return starlark.StringDict{
		"work":         Work,
		"phase":        Phase,
		"workload":     starlark.NewBuiltin("workload", guard(newWorkload)),
		"affinity":     Affinity,
		"sched":        Sched,
		"mempolicy":    MemPolicyModule,
		"spawn":        starlark.NewBuiltin("spawn", guard(s.spawn)),
		"cgroup":       s.cgroupModule(),
		"cpus":         s.cpusModule(),
		"topo":         topoModule{s},
		"scenario_ops": s.scenarioOpsModule(),
		"scheduler":    s.schedulerModule(),
		"sleep":        starlark.NewBuiltin("sleep", guard(s.sleep)),
		"fail":         starlark.NewBuiltin("fail", guard(fail)),
		"stats":        Stats,
		"checks":       s.checksModule(),
		"params":       paramsDict(s.opts.Params),
		"args":         argsList(s.opts.Args),
		"time":         timelib.Module,
		"json":         json.Module,
		"math":         math.Module,
	}
}

// StandIns reports whether a check-only session has handed the script
// stand-in reports (see Options.CheckOnly): an error in the script's own
// operations after that may come from values a real run would measure.
func (s *Session) StandIns() bool { return s.standIns }

// Runs returns every spawn the script stopped, in order.
func (s *Session) Runs() []Run { return s.runs }

// Interrupt stops every handle that is still running after the script
// ended early and records its reports as a Run marked with reason (see
// Run.Interrupted), so that an interrupted run keeps its data. Each stop
// is bounded by the workload's own deadlines, or, when ctx (the run's)
// is done, by the short grace of an interrupted stop: a run ended by
// --timeout or a signal must not wait on a stuck worker. A handle that
// was spawned but never started has no data and is left to Close.
func (s *Session) Interrupt(ctx context.Context, reason string) {
	if ctx.Err() == nil {
		ctx = context.Background()
	}
	for _, h := range s.handles {
		if h.state != "running" {
			continue
		}
		h.collect(ctx, reason)
	}
}

// Close stops every handle still running (the script ended, failed or was
// interrupted without calling stop), killing and reaping its workers, and
// then removes the run's cgroups (see CleanupErr).
func (s *Session) Close() {
	for _, h := range s.handles {
		h.stopTimeline()
		h.h.Close()
	}
	s.handles = nil
	s.stopSchedulers()
	s.closeCgroups()
}

type builtinFunc = func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// builtinModule makes the module name of functions: each a builtin of its
// key's name, behind guard.
func builtinModule(name string, fns map[string]builtinFunc) *starlarkstruct.Module {
	m := &starlarkstruct.Module{Name: name, Members: make(starlark.StringDict, len(fns))}
	for n, fn := range fns {
		m.Members[n] = starlark.NewBuiltin(n, guard(fn))
	}
	return m
}

// guard turns a Go panic in a builtin into an error at the call's
// position, so no stack dump ever reaches the user.
func guard(fn builtinFunc) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (v starlark.Value, err error) {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("%s: internal error: %v", b.Name(), r)
			}
		}()
		return fn(thread, b, args, kwargs)
	}
}

// noPositional rejects positional arguments of a keyword-only builtin.
func noPositional(name string, args starlark.Tuple) error {
	if len(args) > 0 {
		return fmt.Errorf("%s: takes keyword arguments only, got %d positional", name, len(args))
	}
	return nil
}

// bind returns fn as the method called name of recv, or nil (no such
// attribute, as starlark.HasAttrs wants it) when fn is nil.
func bind(recv starlark.Value, name string, fn builtinFunc) starlark.Value {
	if fn == nil {
		return nil
	}
	return starlark.NewBuiltin(name, guard(fn)).BindReceiver(recv)
}

// immutable is embedded by the values a constructor call describes
// completely (affinity, policy, phase, cpuset, workload).
type immutable struct{}

// Freeze does nothing: the value cannot change.
func (immutable) Freeze() {}

// Truth is always true.
func (immutable) Truth() starlark.Bool { return true }
