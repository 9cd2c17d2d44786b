package engine

import (
	"slices"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

func TestComplete(t *testing.T) {
	report := starlark.NewDict(2)
	report.SetKey(starlark.String("wake_latencies_ns"), starlark.None)
	report.SetKey(starlark.String("work_units"), starlark.None)
	report.SetKey(starlark.String("max_gap_ms"), starlark.None)
	globals := starlark.StringDict{
		"work": &starlarkstruct.Module{Name: "work", Members: starlark.StringDict{
			"futex_fan_out": starlark.None, "futex_ping_pong": starlark.None, "spin_wait": starlark.None,
		}},
		"reports": starlark.NewList([]starlark.Value{report}),
		"r":       report,
		"worker":  starlark.None,
	}
	for _, tc := range []struct {
		line  string
		start int
		want  []string
	}{
		{"work.fu", 5, []string{"futex_fan_out", "futex_ping_pong"}},
		{"x = work.sp", 9, []string{"spin_wait"}},
		{"print(work.", 11, []string{"futex_fan_out", "futex_ping_pong", "spin_wait"}},
		{"wor", 0, []string{"work", "worker"}},
		{"le", 0, []string{"len"}}, // a Starlark builtin
		{`r["wa`, 3, []string{`wake_latencies_ns"]`}},
		{`reports[0]['w`, 12, []string{`wake_latencies_ns']`, `work_units']`}},
		{`reports[-1]["m`, 13, []string{`max_gap_ms"]`}},
		{"nothing.x", 0, nil},     // unknown name
		{"reports[5][\"", 0, nil}, // index out of range
		{"work.zz", 0, nil},
		{"", 0, nil},
	} {
		start, got := complete(globals, tc.line)
		if !slices.Equal(got, tc.want) || (tc.want != nil && start != tc.start) {
			t.Errorf("complete(%q) = %d, %q; want %d, %q", tc.line, start, got, tc.start, tc.want)
		}
	}
	if p := commonPrefix([]string{"futex_fan_out", "futex_ping_pong"}); p != "futex_" {
		t.Errorf("commonPrefix = %q, want futex_", p)
	}
}
