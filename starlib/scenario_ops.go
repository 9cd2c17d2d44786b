package starlib

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/topo"
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
//	def clear_subtree_control(cgroup) -> str or None
//	    disable the controllers cgroup enables for its children, so tasks
//	    can move into it; returns why that failed, or None.
//	def check_limits(what, **limits)
//	    validate cgroup.create's limit keywords, errors naming what.
//	def work_override() -> work or None
//	    the work type of Options.WorkOverride (--work-override) with its
//	    defaults, or None.
//	def settings(what, v) -> checks.settings or None
//	    read one layer of scenario checks (a dict of check keywords,
//	    checks.settings or None), with errors naming what.
//	def judge(reports, step, cgroup, layers, cpuset = None) -> list of dict
//	    evaluate reports (one handle's) with the layers merged in order
//	    (runtime.md §6.1-6.2) and record the call for the summary and
//	    --json; returns the outcome dicts (as checks.evaluate's, plus
//	    "step" and "cgroup"), [] when no layer sets a check.
//	def set_phase(handle, step)
//	    write phase step+1 into the handle's epoch word (runtime.md §5.5),
//	    or the gap between steps when step is None: its workers cut their
//	    telemetry into phase_slices there.
//	def step_reports(reports, step) -> list of dict
//	    the reports restricted to step: one report dict per worker with a
//	    slice of that step, its figures the slice's, plus "phase_epoch".
func (s *Session) scenarioOpsModule() *starlarkstruct.Module {
	return builtinModule("scenario_ops", map[string]builtinFunc{
		"struct":                starlarkstruct.Make,
		"set_affinity":          s.setAffinity,
		"error":                 scriptError,
		"watch":                 s.scenarioWatch,
		"hold":                  s.scenarioHold,
		"settings":              scenarioSettings,
		"clear_subtree_control": clearSubtreeControl,
		"check_limits":          checkLimits,
		"work_override":         s.workOverride,
		"judge":                 s.judge,
		"set_phase":             setPhase,
		"step_reports":          stepReports,
	})
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

func scenarioSettings(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		what string
		v    starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "what", &what, "v", &v); err != nil {
		return nil, err
	}
	if v == starlark.None {
		return starlark.None, nil
	}
	a, err := layerOf(v)
	if err != nil {
		return nil, fmt.Errorf("%s: checks: %w", what, err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%s: checks: %w", what, err)
	}
	return &SettingsValue{a: a}, nil
}

// judge evaluates one handle's reports at a scenario's collection.
func (s *Session) judge(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		reports, step, layers starlark.Value
		cg                    string
		cpuset                starlark.Value = starlark.None
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "reports", &reports, "step", &step, "cgroup", &cg, "layers", &layers, "cpuset?", &cpuset); err != nil {
		return nil, err
	}
	seq, ok := layers.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("%s: layers: want a list, got %s", b.Name(), layers.Type())
	}
	a := checks.Assert{}
	for i := range seq.Len() {
		l, err := layerOf(seq.Index(i))
		if err != nil {
			return nil, fmt.Errorf("%s: layers[%d]: %w", b.Name(), i, err)
		}
		a = a.Merge(l)
	}
	if len(a) == 0 {
		return starlark.NewList(nil), nil
	}
	scope := "step " + step.String()
	if _, named := step.(starlark.String); named {
		scope, _ = starlark.AsString(step)
	}
	if cg != "" {
		scope += " " + cg
	}
	rs, err := reportList(b.Name(), "reports", reports)
	if err != nil {
		return nil, err
	}
	units := checks.Units(rs)
	for i := range units {
		if len(units) == 1 {
			units[i].Name = scope
		} else {
			units[i].Name = scope + " " + units[i].Name
		}
	}
	if cpuset != starlark.None {
		cpus, err := cpuList(b.Name(), cpuset)
		if err != nil {
			return nil, err
		}
		var tp *topo.Topology
		if t, err := s.topology(); err == nil {
			tp = t
		}
		for i := range units {
			units[i].Cpuset = cpus
			if tp != nil {
				units[i].NumaNodes = tp.NodesFor(cpus)
			}
		}
	}
	res, err := checks.Evaluate(units, a)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", b.Name(), scope, err)
	}
	s.checks = append(s.checks, CheckCall{Call: scope, Function: "scenario", Verdict: res.Verdict(), Outcomes: res.Outcomes})
	out := make([]starlark.Value, len(res.Outcomes))
	for i, o := range res.Outcomes {
		d := outcomeDict(o)
		d.SetKey(starlark.String("step"), step)
		d.SetKey(starlark.String("cgroup"), starlark.String(cg))
		out[i] = d
	}
	return starlark.NewList(out), nil
}

func clearSubtreeControl(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var g *CgroupValue
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cgroup", &g); err != nil {
		return nil, err
	}
	if err := g.m.ClearSubtreeControl(); err != nil {
		return starlark.String(fmt.Sprintf("cgroup %q: cgroup.subtree_control: %v", g.name, err)), nil
	}
	return starlark.None, nil
}

func (s *Session) workOverride(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if s.opts.WorkOverride == "" {
		return starlark.None, nil
	}
	t, ok := workload.Find(s.opts.WorkOverride)
	if !ok {
		_, err := workload.NewWork(s.opts.WorkOverride, nil) // the catalog's error, with a suggestion
		return nil, fmt.Errorf("--work-override: %w", err)
	}
	return makeWork(t, nil)
}

func checkLimits(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var what string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &what); err != nil {
		return nil, err
	}
	kw := map[string]starlark.Value{}
	for _, p := range kwargs {
		name := string(p[0].(starlark.String))
		if !slices.Contains(limitParams, name) {
			return nil, fmt.Errorf("%s: unknown limit %q (limits: %s)", what, name, strings.Join(limitParams, ", "))
		}
		kw[name] = p[1]
	}
	if _, err := parseLimits(kw); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return starlark.None, nil
}

func setPhase(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		h    *Handle
		step starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "handle", &h, "step", &step); err != nil {
		return nil, err
	}
	e := workload.PhaseGap
	if step != starlark.None {
		k, err := starlark.AsInt32(step)
		if err != nil || k < 0 {
			return nil, fmt.Errorf("%s: step = %s is out of range (allowed: 0 or more, or None for the gap)", b.Name(), step)
		}
		e = uint32(k) + 1
	}
	h.h.SetPhaseEpoch(e)
	return starlark.None, nil
}

func stepReports(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		reports starlark.Value
		step    int
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "reports", &reports, "step", &step); err != nil {
		return nil, err
	}
	rs, err := reportList(b.Name(), "reports", reports)
	if err != nil {
		return nil, err
	}
	var out []workload.Report
	for i := range rs {
		if r, ok := rs[i].StepReport(step); ok {
			out = append(out, r)
		}
	}
	l := Reports(out)
	for i := range l.Len() {
		l.Index(i).(*starlark.Dict).SetKey(starlark.String("phase_epoch"), starlark.MakeInt(step+1))
	}
	return l, nil
}
