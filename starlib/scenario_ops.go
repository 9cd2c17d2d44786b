package starlib

import (
	"errors"
	"fmt"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// scenarioOpsModule is the Starlark module `scenario_ops`: the Go helpers
// that @stdlib//scenario.star builds phased scenarios on. Scripts use that
// library rather than these directly.
//
//	def struct(**fields) -> struct
//	    an immutable record with the fields as attributes (scenario
//	    results, steps, ops).
//	def error(msg)
//	    stop the script with msg as a script error (exit status 2), for a
//	    bad argument; fail() is for a failed expectation (exit status 1).
//	def set_affinity(handle, affinity, cgroup = None) -> list of str
//	    resolve affinity against the cgroup's cpuset (or all CPUs) and pin
//	    every worker of handle to it, drawing a random_subset per worker;
//	    returns one warning per worker that could not be pinned (it keeps
//	    its mask).
//	def watch(scheduler) -> watch or None
//	    hold the scheduler handle alive and sched_ext in its present
//	    state and ops (scheduler.go)
//	def hold(d, watch, step) -> None or str
//	    hold for d, checking the watch every 50ms; the failure message
//	    of step when the scheduler died or sched_ext changed
func (s *Session) scenarioOpsModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{
		Name: "scenario_ops",
		Members: starlark.StringDict{
			"struct":       starlark.NewBuiltin("struct", starlarkstruct.Make),
			"set_affinity": starlark.NewBuiltin("set_affinity", guard(s.setAffinity)),
			"error":        starlark.NewBuiltin("error", guard(scriptError)),
			"watch":        starlark.NewBuiltin("watch", guard(s.scenarioWatch)),
			"hold":         starlark.NewBuiltin("hold", guard(s.scenarioHold)),
		},
	}
}

func (s *Session) setAffinity(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		h   *Handle
		aff AffinityValue
		cg  starlark.Value = starlark.None
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "handle", &h, "affinity", &aff, "cgroup?", &cg); err != nil {
		return nil, err
	}
	var cpuset []int
	where := "all CPUs"
	if cg != starlark.None {
		g, ok := cg.(*CgroupValue)
		if !ok {
			return nil, fmt.Errorf("%s: cgroup: want a cgroup or None, got %s", b.Name(), cg.Type())
		}
		cpuset, where = g.cpuset, fmt.Sprintf("cgroup %q", g.name)
	}
	tp, err := s.topology()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	a, err := workload.ResolveAffinity(aff.A, tp, cpuset)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", b.Name(), where, err)
	}
	var warnings []starlark.Value
	if a.Kind == workload.AffinityInherit {
		return starlark.NewList(warnings), nil
	}
	for i := range h.h.Pids() {
		if err := h.h.SetAffinity(i, a.Draw()); err != nil {
			warnings = append(warnings, starlark.String(fmt.Sprintf("%s: worker %d keeps its mask: %v", where, i, err)))
		}
	}
	return starlark.NewList(warnings), nil
}

func scriptError(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	return nil, errors.New(msg)
}
