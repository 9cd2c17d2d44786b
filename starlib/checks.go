package starlib

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/workload"
	timelib "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// checksModule is the Starlark module `checks`, ktstr's worker checks
// (package checks) over report dicts:
//
//	def evaluate(reports, preset = None, base = None, cpuset = None, **checks) -> checks.result
//	    judge reports; the result has verdict ("pass", "fail",
//	    "inconclusive" or "skip"), passed (no check failed), outcomes and
//	    failed (lists of dicts: check, scope, status, threshold, observed,
//	    unit, samples, worst {tid, group, cgroup}, detail, message).
//	def require(reports, ...same...) -> checks.result
//	    as evaluate, but a failed check fails the script (exit status 1)
//	    with every failed check listed.
//	def settings(preset = None, base = None, **checks) -> checks.settings
//	    a layer of settings to pass on as preset= or base=.
//	def default() -> checks.settings
//	    the baseline preset: not_starved (with spread 15 % and gap 2 s).
//	def names() -> list of every check name, in evaluation order.
//
// The check keywords are the names of checks.All(): flags take True or
// False, thresholds a number (ns and ms thresholds also a time.duration)
// or False to turn the check off; None leaves it unset. Layers merge
// preset, then base, then the call's keywords; the last value set wins and
// False disables what a lower layer turned on.
//
// reports is a list of report dicts (split into one unit per group and
// cgroup), a list of such lists, or a dict name -> list (units named by
// key, e.g. a scenario's per-cgroup results). cpuset is the expected CPUs
// (a list or "0-3") for isolation and the NUMA checks: one for every unit,
// or a dict by the same keys as reports.
//
// Every evaluate and require call of a run is recorded for the end-of-run
// summary and --json.
func (s *Session) checksModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "checks", Members: starlark.StringDict{
		"evaluate": starlark.NewBuiltin("checks.evaluate", guard(s.checksEvaluate)),
		"require":  starlark.NewBuiltin("checks.require", guard(s.checksEvaluate)),
		"settings": starlark.NewBuiltin("checks.settings", guard(checksSettings)),
		"default":  starlark.NewBuiltin("checks.default", guard(checksDefault)),
		"names":    starlark.NewBuiltin("checks.names", guard(namesBuiltin(checks.Names))),
	}}
}

// CheckCall is what one checks.evaluate or checks.require call found.
type CheckCall struct {
	Call     string           `json:"call"`     // file:line:col of the call
	Function string           `json:"function"` // checks.evaluate or checks.require
	Verdict  checks.Status    `json:"verdict"`
	Outcomes []checks.Outcome `json:"outcomes"`
}

// Result returns the outcomes as a checks.Result.
func (c CheckCall) Result() checks.Result { return checks.Result{Outcomes: c.Outcomes} }

// Checks returns every check call of the run, in order.
func (s *Session) Checks() []CheckCall { return s.checks }

func (s *Session) checksEvaluate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s: want the reports as the one positional argument, got %d", b.Name(), len(args))
	}
	a, rest, err := parseSettings(b.Name(), kwargs, "cpuset")
	if err != nil {
		return nil, err
	}
	if len(kwargs) == len(rest) {
		return nil, fmt.Errorf("%s: no check is enabled: pass some, e.g. not_starved = True or preset = checks.default() (checks: %s)", b.Name(), strings.Join(checks.Names(), ", "))
	}
	units, err := unitsOf(b.Name(), args[0], rest["cpuset"], s.spawnOf)
	if err != nil {
		return nil, err
	}
	res, err := checks.Evaluate(units, a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	call := CheckCall{Function: b.Name(), Verdict: res.Verdict(), Outcomes: res.Outcomes}
	if thread.CallStackDepth() > 1 {
		call.Call = thread.CallFrame(1).Pos.String()
	}
	s.checks = append(s.checks, call)
	if b.Name() == "checks.require" {
		if err := res.Err(); err != nil {
			return nil, &FailError{By: b.Name(), Msg: err.Error()}
		}
	}
	return newResultValue(res), nil
}

// spawnOf returns the label of the spawn whose workers wrote every one of
// rs (sentinels aside), or "" when they come from several or none.
func (s *Session) spawnOf(rs []workload.Report) string {
	label := ""
	for _, r := range rs {
		if !r.Completed && r.Tid == 0 {
			continue
		}
		l, ok := s.tidLabels[r.Tid]
		if !ok || label != "" && l != label {
			return ""
		}
		label = l
	}
	return label
}

// unitsOf reads the reports argument into units and attaches the
// expected cpusets. Units of a plain list of one spawn's reports are
// named by the spawn's label (spawnOf), as the summary names its rows.
func unitsOf(fn string, v, cpuset starlark.Value, spawnOf func([]workload.Report) string) ([]checks.Unit, error) {
	var units []checks.Unit
	var keys []string // the part of reports each unit came from, for cpuset by key
	add := func(key, path string, list starlark.Value) error {
		rs, err := reportList(fn, path, list)
		if err != nil {
			return err
		}
		sub := checks.Units(rs)
		if l := spawnOf(rs); key == "" && l != "" {
			sub = nameUnits(sub, l)
		}
		for _, u := range sub {
			if key != "" {
				if len(sub) == 1 {
					u.Name = key
				} else {
					u.Name = key + " " + u.Name
				}
			}
			units = append(units, u)
			keys = append(keys, key)
		}
		return nil
	}
	switch x := v.(type) {
	case *starlark.Dict:
		for _, kv := range x.Items() {
			k, ok := starlark.AsString(kv[0])
			if !ok {
				return nil, fmt.Errorf("%s: reports: want string keys (unit names), got %s", fn, kv[0].Type())
			}
			if err := add(k, fmt.Sprintf("reports[%q]", k), kv[1]); err != nil {
				return nil, err
			}
		}
	case starlark.Indexable:
		if x.Len() > 0 && isList(x.Index(0)) {
			for i := range x.Len() {
				if err := add(fmt.Sprintf("reports[%d]", i), fmt.Sprintf("reports[%d]", i), x.Index(i)); err != nil {
					return nil, err
				}
			}
		} else if err := add("", "reports", x); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: reports: want a list of report dicts, a list of lists, or a dict name -> list, got %s", fn, v.Type())
	}
	if cpuset == nil || cpuset == starlark.None {
		return units, nil
	}
	var tp *topo.Topology
	if t, err := topo.Host(); err == nil {
		tp = t // without it the NUMA checks skip for want of nodes
	}
	attach := func(u *checks.Unit, path string, v starlark.Value) error {
		cpus, err := cpuList(fn, v)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		u.Cpuset = cpus
		if tp != nil {
			u.NumaNodes = tp.NodesFor(cpus)
		}
		return nil
	}
	d, byKey := cpuset.(*starlark.Dict)
	if !byKey {
		for i := range units {
			if err := attach(&units[i], "cpuset", cpuset); err != nil {
				return nil, err
			}
		}
		return units, nil
	}
	for _, kv := range d.Items() {
		k, _ := starlark.AsString(kv[0])
		if !slices.Contains(keys, k) || k == "" {
			return nil, fmt.Errorf("%s: cpuset[%s]: no reports by that name (names: %s)", fn, kv[0], strings.Join(slices.Compact(keys), ", "))
		}
		for i := range units {
			if keys[i] == k {
				if err := attach(&units[i], fmt.Sprintf("cpuset[%q]", k), kv[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	return units, nil
}

func isList(v starlark.Value) bool {
	switch v.(type) {
	case *starlark.List, starlark.Tuple:
		return true
	}
	return false
}

// reportList converts one list of report dicts.
func reportList(fn, path string, v starlark.Value) ([]workload.Report, error) {
	seq, ok := v.(starlark.Indexable)
	if !ok || !isList(v) {
		return nil, fmt.Errorf("%s: %s: want a list of report dicts, got %s", fn, path, v.Type())
	}
	out := make([]workload.Report, seq.Len())
	for i := range out {
		r, err := ReportOf(seq.Index(i), fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out[i] = r
	}
	return out, nil
}

// parseSettings merges preset=, base= and the check keywords of kwargs,
// in that order. Keywords named in extra are returned, not parsed.
func parseSettings(fn string, kwargs []starlark.Tuple, extra ...string) (checks.Assert, map[string]starlark.Value, error) {
	var preset, base starlark.Value
	call := checks.Assert{}
	rest := map[string]starlark.Value{}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		v := kv[1]
		switch {
		case name == "preset":
			preset = v
		case name == "base":
			base = v
		case slices.Contains(extra, name):
			rest[name] = v
		default:
			if err := setOne(call, name, v); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", fn, err)
			}
		}
	}
	a := checks.Assert{}
	for _, layer := range []struct {
		name string
		v    starlark.Value
	}{{"preset", preset}, {"base", base}} {
		l, err := layerOf(layer.v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", fn, layer.name, err)
		}
		a = a.Merge(l)
	}
	a = a.Merge(call)
	if err := a.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fn, err)
	}
	return a, rest, nil
}

// layerOf reads a preset= or base= value: checks.settings, a dict of
// check keywords, or None.
func layerOf(v starlark.Value) (checks.Assert, error) {
	switch x := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *SettingsValue:
		return x.a, nil
	case *starlark.Dict:
		a := checks.Assert{}
		for _, kv := range x.Items() {
			name, ok := starlark.AsString(kv[0])
			if !ok {
				return nil, fmt.Errorf("want check names as keys, got %s", kv[0].Type())
			}
			if err := setOne(a, name, kv[1]); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("want checks.settings, a dict or None, got %s", v.Type())
}

// setOne reads one check keyword into a; None leaves it unset.
func setOne(a checks.Assert, name string, v starlark.Value) error {
	c, ok := checks.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown check %q (checks: %s)", name, strings.Join(checks.Names(), ", "))
	}
	if v == starlark.None {
		return nil
	}
	if b, ok := v.(starlark.Bool); ok {
		switch {
		case !bool(b):
			a[name] = checks.Off()
		case c.Kind == checks.Flag:
			a[name] = checks.On()
		default:
			return fmt.Errorf("%s = True: want a threshold in %s (%s)", name, c.Unit, c.Range())
		}
		return nil
	}
	if c.Kind == checks.Flag {
		return fmt.Errorf("%s: want True or False, got %s", name, v.Type())
	}
	if d, ok := v.(timelib.Duration); ok {
		per := map[string]float64{"ns": 1, "ms": 1e6}[c.Unit]
		if per == 0 {
			return fmt.Errorf("%s: a duration makes no sense for a threshold in %s", name, c.Unit)
		}
		a[name] = checks.Limit(float64(d) / per)
		return nil
	}
	f, ok := starlark.AsFloat(v)
	if !ok {
		return fmt.Errorf("%s: want a number or False, got %s", name, v.Type())
	}
	a[name] = checks.Limit(f)
	return nil
}

func checksSettings(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := noPositional(b.Name(), args); err != nil {
		return nil, err
	}
	a, _, err := parseSettings(b.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	return &SettingsValue{a: a}, nil
}

func checksDefault(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return &SettingsValue{a: checks.Default()}, nil
}

// SettingsValue is the Starlark value of one layer of check settings
// (checks.settings, checks.default); immutable. Each check name is an
// attribute: True/False for flags, the threshold or False, None if unset.
type SettingsValue struct{ a checks.Assert }

var _ starlark.HasAttrs = (*SettingsValue)(nil)

// String renders the constructor call with every setting, in table order.
func (v *SettingsValue) String() string {
	var parts []string
	for _, c := range checks.All() {
		if _, set := v.a[c.Name]; set {
			parts = append(parts, fmt.Sprintf("%s = %s", c.Name, v.attr(c)))
		}
	}
	return "checks.settings(" + strings.Join(parts, ", ") + ")"
}

func (v *SettingsValue) attr(c checks.Check) starlark.Value {
	s, set := v.a[c.Name]
	switch {
	case !set:
		return starlark.None
	case s.Off:
		return starlark.False
	case c.Kind == checks.Flag:
		return starlark.True
	}
	return starlark.Float(s.Limit)
}

// Type returns "checks.settings".
func (v *SettingsValue) Type() string { return "checks.settings" }

// Freeze does nothing: settings are immutable.
func (v *SettingsValue) Freeze() {}

// Truth is always true.
func (v *SettingsValue) Truth() starlark.Bool { return true }

// Hash hashes the rendered value.
func (v *SettingsValue) Hash() (uint32, error) { return starlark.String(v.String()).Hash() }

// Attr returns a check's setting.
func (v *SettingsValue) Attr(name string) (starlark.Value, error) {
	c, ok := checks.Lookup(name)
	if !ok {
		return nil, nil
	}
	return v.attr(c), nil
}

// AttrNames lists every check name.
func (v *SettingsValue) AttrNames() []string { return checks.Names() }

// ResultValue is the Starlark value of one evaluation; immutable.
type ResultValue struct {
	res              checks.Result
	outcomes, failed *starlark.List
}

var _ starlark.HasAttrs = (*ResultValue)(nil)

func newResultValue(res checks.Result) *ResultValue {
	var all, failed []starlark.Value
	for _, o := range res.Outcomes {
		d := outcomeDict(o)
		all = append(all, d)
		if o.Status == checks.Fail {
			failed = append(failed, d)
		}
	}
	v := &ResultValue{res: res, outcomes: starlark.NewList(all), failed: starlark.NewList(failed)}
	v.outcomes.Freeze()
	v.failed.Freeze()
	return v
}

// outcomeDict is the script's view of one outcome; threshold is None for
// flags, worst None when no worker stood out.
func outcomeDict(o checks.Outcome) *starlark.Dict {
	d := starlark.NewDict(10)
	set := func(k string, v starlark.Value) { d.SetKey(starlark.String(k), v) }
	set("check", starlark.String(o.Check))
	set("scope", starlark.String(o.Scope))
	set("status", starlark.String(o.Status))
	if c, _ := checks.Lookup(o.Check); c.Kind == checks.Flag {
		set("threshold", starlark.None)
	} else {
		set("threshold", starlark.Float(o.Threshold))
	}
	set("observed", starlark.Float(o.Observed))
	set("unit", starlark.String(o.Unit))
	set("samples", starlark.MakeInt(o.Samples))
	set("sample_kind", starlark.String(o.SampleKind))
	if w := o.Worst; w != nil {
		wd := starlark.NewDict(3)
		wd.SetKey(starlark.String("tid"), starlark.MakeInt(w.Tid))
		wd.SetKey(starlark.String("group"), starlark.MakeInt(w.Group))
		wd.SetKey(starlark.String("cgroup"), starlark.String(w.Cgroup))
		set("worst", wd)
	} else {
		set("worst", starlark.None)
	}
	set("detail", starlark.String(o.Detail))
	set("message", starlark.String(o.String()))
	return d
}

// String lists the outcomes, one per line, as the summary shows them.
func (v *ResultValue) String() string {
	if len(v.res.Outcomes) == 0 {
		return "checks.result(no checks ran)"
	}
	lines := make([]string, len(v.res.Outcomes))
	for i, o := range v.res.Outcomes {
		lines[i] = o.String()
	}
	return strings.Join(lines, "\n")
}

// Type returns "checks.result".
func (v *ResultValue) Type() string { return "checks.result" }

// Freeze does nothing: results are immutable.
func (v *ResultValue) Freeze() {}

// Truth is whether no check failed, so `if checks.evaluate(...)` reads well.
func (v *ResultValue) Truth() starlark.Bool { return v.failed.Len() == 0 }

// Hash fails, as for a list.
func (v *ResultValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: checks.result") }

// Attr returns verdict, passed, outcomes or failed.
func (v *ResultValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "verdict":
		return starlark.String(v.res.Verdict()), nil
	case "passed":
		return v.Truth(), nil
	case "outcomes":
		return v.outcomes, nil
	case "failed":
		return v.failed, nil
	}
	return nil, nil
}

// AttrNames lists the attributes.
func (v *ResultValue) AttrNames() []string {
	return []string{"failed", "outcomes", "passed", "verdict"}
}
