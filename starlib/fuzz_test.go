package starlib_test

import (
	"strings"
	"testing"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// fuzzCall is one builtin of the script surface and the argument the
// fuzzer fills: a keyword (kw) or, when kw is "", the only positional one.
type fuzzCall struct{ callee, kw string }

// fuzzCalls is every work constructor with each of its parameters (from
// the catalog), and the other builtins that take script values and do
// not spawn, sleep or touch cgroups.
func fuzzCalls() []fuzzCall {
	var out []fuzzCall
	for _, t := range workload.Types() {
		for _, p := range t.Params {
			out = append(out, fuzzCall{"work." + t.Ctor, p.Name})
		}
	}
	for _, kw := range []string{"workers", "work", "affinity", "policy", "nice", "comm"} {
		out = append(out, fuzzCall{"workload", kw})
	}
	for _, c := range []string{"affinity.exact", "sched.fifo", "sched.rr", "phase.spin", "phase.sleep", "phase.io",
		"checks.evaluate", "checks.default", "stats.percentile", "stats.mean", "stats.cv", "cpus.exact", "cpus.numa", "cpus.llc",
		"topo.cpuset", "work.from_name", "json.decode"} {
		out = append(out, fuzzCall{c, ""})
	}
	for _, kw := range []string{"not_starved", "max_gap_ms", "max_p99_wake_latency_ns", "min_work_rate", "nope"} {
		out = append(out, fuzzCall{"checks.settings", kw})
	}
	return out
}

// FuzzScriptSurface calls one builtin of the script surface with a value
// made by a fuzzed Starlark expression. Invariants: no panic (the
// builtins' guard would report it as an internal error) and no hang (a
// step limit), and a refused value gets an error that names the argument
// or the builtin.
func FuzzScriptSurface(f *testing.F) {
	calls := fuzzCalls()
	for i, v := range []string{`5`, `-1`, `"fast"`, `[0, 1]`, `1e308`, `float("nan")`, `None`, `True`, `"50ms"`, `{"a": 1}`,
		`[{"work_units": 1, "tid": 3}]`, `work.spin_wait()`, `[phase.spin("1ms")]`, `"0-3"`, `2 ** 70`, `-2 ** 63`, `"\x00"`, `[[1], [2]]`} {
		f.Add(uint16(i*7), v)
	}
	pre := starlib.NewSession(starlib.Options{}).Predeclared()
	opts := &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}
	f.Fuzz(func(t *testing.T, which uint16, value string) {
		// Repetition and ranges can ask for gigabytes in one step.
		if len(value) > 200 || strings.ContainsAny(value, "*") || strings.Contains(value, "range") {
			return
		}
		c := calls[int(which)%len(calls)]
		thread := &starlark.Thread{Name: "fuzz", Print: func(*starlark.Thread, string) {}}
		thread.SetMaxExecutionSteps(10_000)
		v, err := starlark.EvalOptions(opts, thread, "value", value, pre)
		if err != nil {
			return
		}
		callee, err := starlark.EvalOptions(opts, thread, "callee", c.callee, pre)
		if err != nil {
			t.Fatalf("%s: %v", c.callee, err)
		}
		args, kwargs := starlark.Tuple{v}, []starlark.Tuple(nil)
		if c.kw != "" {
			args, kwargs = nil, []starlark.Tuple{{starlark.String(c.kw), v}}
		}
		_, err = starlark.Call(thread, callee, args, kwargs)
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.Contains(msg, "internal error") {
			t.Fatalf("%s(%s = %s) panicked: %s", c.callee, c.kw, value, msg)
		}
		name := c.callee[strings.LastIndexByte(c.callee, '.')+1:]
		if !strings.Contains(msg, c.kw) && !strings.Contains(msg, name) {
			t.Errorf("%s(%s = %s): error names neither the argument nor the builtin: %s", c.callee, c.kw, value, msg)
		}
	})
}
