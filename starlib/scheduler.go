package starlib

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/ktstar/ktstar/scheduler"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// schedulerModule is the Starlark module `scheduler`: the scheduler under
// test.
//
//	scheduler.start(path, args = [])  start a program; the run stops it at its end
//	scheduler.attach(pid)             watch a process ktstar never signals
//	scheduler.current()               the one --scheduler started, or None
//
// A handle has .pid, .name, .alive(), .state() (a dict: "state" is
// enabled, disabled, enabling, disabling or "none" without sched_ext;
// "ops" the BPF scheduler's name), .events() (the kernel's sched_ext
// counters, None where not exposed) and .output() (its kept lines).
func (s *Session) schedulerModule() *starlarkstruct.Module {
	return builtinModule("scheduler", map[string]builtinFunc{
		"start":   s.schedulerStart,
		"attach":  s.schedulerAttach,
		"current": s.schedulerCurrent,
	})
}

// schedFS is where the session reads sched_ext's sysfs files.
func (s *Session) schedFS() fs.FS {
	if s.opts.SchedFS != nil {
		return s.opts.SchedFS
	}
	return os.DirFS(scheduler.SysFS)
}

func (s *Session) schedulerStart(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var argv *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "args?", &argv); err != nil {
		return nil, err
	}
	var strs []string
	if argv != nil {
		for i := 0; i < argv.Len(); i++ {
			a, ok := starlark.AsString(argv.Index(i))
			if !ok {
				return nil, fmt.Errorf("scheduler.start: args[%d] is a %s, want a string", i, argv.Index(i).Type())
			}
			strs = append(strs, a)
		}
	}
	if s.opts.CheckOnly {
		// Checked, not started: a check-only run acts on nothing, and
		// what the script reads of the handle from here is a stand-in.
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("scheduler.start: %w", err)
		}
		s.standIns = true
		return &SchedulerValue{P: scheduler.Planned(path), fs: s.schedFS()}, nil
	}
	p, err := scheduler.Start(path, strs, nil, "")
	if err != nil {
		return nil, err
	}
	s.started = append(s.started, p)
	return &SchedulerValue{P: p, fs: s.schedFS()}, nil
}

func (s *Session) schedulerAttach(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pid int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pid", &pid); err != nil {
		return nil, err
	}
	p, err := scheduler.Attach(pid)
	if err != nil {
		return nil, err
	}
	return &SchedulerValue{P: p, fs: s.schedFS()}, nil
}

func (s *Session) schedulerCurrent(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if s.opts.Scheduler == nil {
		return starlark.None, nil
	}
	return &SchedulerValue{P: s.opts.Scheduler, fs: s.schedFS()}, nil
}

// stopSchedulers stops what the script started, never what it attached to
// or what --scheduler started (the command stops that after the run).
func (s *Session) stopSchedulers() {
	for _, p := range s.started {
		p.Stop(scheduler.DefaultStopGrace)
	}
	s.started = nil
}

// SchedulerValue is a scheduler handle as scripts see it.
type SchedulerValue struct {
	P  *scheduler.Process
	fs fs.FS
}

var _ starlark.HasAttrs = (*SchedulerValue)(nil)

// String names the process.
func (v *SchedulerValue) String() string { return "<scheduler " + v.P.String() + ">" }

// Type returns "scheduler".
func (v *SchedulerValue) Type() string { return "scheduler" }

// Freeze does nothing: the handle follows a live process.
func (v *SchedulerValue) Freeze() {}

// Truth is always true.
func (v *SchedulerValue) Truth() starlark.Bool { return true }

// Hash hashes by pid.
func (v *SchedulerValue) Hash() (uint32, error) { return uint32(v.P.Pid), nil }

// AttrNames lists the members.
func (v *SchedulerValue) AttrNames() []string {
	return []string{"alive", "events", "name", "output", "pid", "state"}
}

// Attr returns a member.
func (v *SchedulerValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "pid":
		return starlark.MakeInt(v.P.Pid), nil
	case "name":
		return starlark.String(v.P.Name), nil
	case "alive":
		return bind(v, name, func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlark.Bool(v.P.Alive()), nil
		}), nil
	case "state":
		return bind(v, name, v.state), nil
	case "events":
		return bind(v, name, v.events), nil
	case "output":
		return bind(v, name, func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			out := v.P.Output()
			vals := make([]starlark.Value, len(out))
			for i, l := range out {
				vals[i] = starlark.String(l)
			}
			return starlark.NewList(vals), nil
		}), nil
	}
	return nil, nil
}

func (v *SchedulerValue) state(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	st, err := scheduler.ReadState(v.fs)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	d := starlark.NewDict(2)
	d.SetKey(starlark.String("state"), starlark.String(st.State))
	d.SetKey(starlark.String("ops"), starlark.String(st.Ops))
	return d, nil
}

func (v *SchedulerValue) events(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	ev, err := scheduler.ReadEvents(v.fs)
	if err != nil || ev == nil {
		return starlark.None, err
	}
	d := starlark.NewDict(len(ev))
	for k, n := range ev {
		d.SetKey(starlark.String(k), starlark.MakeInt64(n))
	}
	return d, nil
}

// WatchValue is a scenario's watch over its scheduler (scenario_ops.watch).
type WatchValue struct {
	immutable
	W *scheduler.Watch
}

// String names the watched scheduler.
func (v *WatchValue) String() string { return "<watch " + v.W.P.String() + ">" }

// Type returns "scheduler_watch".
func (v *WatchValue) Type() string { return "scheduler_watch" }

// Truth is always true.
func (v *WatchValue) Truth() starlark.Bool { return true }

// Hash fails: a watch is not a key.
func (v *WatchValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: scheduler_watch") }

// kmsg reads the kernel log for a disable reason (a fixture's in tests).
func (s *Session) kmsg() ([]string, error) {
	if s.opts.Kmsg != nil {
		return s.opts.Kmsg()
	}
	return scheduler.ReadKmsg(scheduler.KmsgPath)
}

// scenarioWatch implements scenario_ops.watch(sched): a watch that holds
// sched alive and sched_ext as it is now, or None for None.
func (s *Session) scenarioWatch(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "scheduler", &v); err != nil {
		return nil, err
	}
	if v == starlark.None {
		return starlark.None, nil
	}
	h, ok := v.(*SchedulerValue)
	if !ok {
		return nil, fmt.Errorf("scenario: scheduler: want a scheduler handle (scheduler.start, .attach, .current) or None, got %s", v.Type())
	}
	w, err := scheduler.NewWatch(h.P, h.fs, s.kmsg)
	if err != nil {
		return nil, fmt.Errorf("scenario: scheduler: %w", err)
	}
	return &WatchValue{W: w}, nil
}

// scenarioHold implements scenario_ops.hold(d, watch, step): it holds for d
// as sleep does and, with a watch, checks it every
// scheduler.WatchPeriod (and at once when a started scheduler exits). It
// returns None, or the failure message of step.
func (s *Session) scenarioHold(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		d    durationParam
		wv   starlark.Value
		step int
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "d", &d, "watch", &wv, "step", &step); err != nil {
		return nil, err
	}
	ctx := threadContext(thread)
	w, _ := wv.(*WatchValue)
	if w == nil || s.opts.CheckOnly {
		if err := s.Hold(ctx, time.Duration(d)); err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		return starlark.None, nil
	}
	if f := w.W.Check(); f != nil {
		return s.fault(f, step), nil
	}
	if s.opts.Progress != nil {
		defer s.opts.Progress.Show(time.Duration(d), s.progressGroups())()
	}
	end := time.NewTimer(time.Duration(d))
	defer end.Stop()
	tick := time.NewTicker(scheduler.WatchPeriod)
	defer tick.Stop()
	for {
		select {
		case <-end.C:
			if f := w.W.Check(); f != nil {
				return s.fault(f, step), nil
			}
			return starlark.None, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("scenario: %w", context.Cause(ctx))
		case <-w.W.P.Done():
		case <-tick.C:
		}
		if f := w.W.Check(); f != nil {
			return s.fault(f, step), nil
		}
	}
}

// fault records f and returns its message for step.
func (s *Session) fault(f *scheduler.Fault, step int) starlark.Value {
	s.faults = append(s.faults, SchedulerFault{Step: step, Time: time.Now(), Fault: *f})
	return starlark.String(f.Message(step))
}

// SchedulerFault is a scheduler's death or sched_ext's disable that failed
// a scenario step, for --json.
type SchedulerFault struct {
	Step int       `json:"step"`
	Time time.Time `json:"time"`
	scheduler.Fault
}

// SchedulerFaults returns the faults that failed scenario steps.
func (s *Session) SchedulerFaults() []SchedulerFault { return s.faults }
