package scheduler

import (
	"strings"
	"testing"
	"testing/fstest"
)

// The kernel's sched_ext files, as fixtures: this machine's kernel may
// have no sched_ext, and the states cannot be made to change on demand.
func sysfs(state, ops string) fstest.MapFS {
	m := fstest.MapFS{}
	if state != "" {
		m["sched_ext/state"] = &fstest.MapFile{Data: []byte(state + "\n")}
	}
	if ops != "" {
		m["sched_ext/root/ops"] = &fstest.MapFile{Data: []byte(ops + "\n")}
	}
	return m
}

func TestReadState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fs     fstest.MapFS
		want   State
		errHas string
	}{
		{"no sched_ext", sysfs("", ""), State{State: NoSchedExt}, ""},
		{"disabled", sysfs("disabled", ""), State{State: "disabled"}, ""},
		{"enabled", sysfs("enabled", "simple"), State{State: "enabled", Ops: "simple"}, ""},
		{"unknown", sysfs("wedged", ""), State{State: "wedged"}, `sched_ext state "wedged": unknown`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadState(tc.fs)
			if got != tc.want || (tc.errHas == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("ReadState = %+v, %v; want %+v and an error with %q", got, err, tc.want, tc.errHas)
			}
		})
	}
}

// TestChange walks the state machine a step watches: what stays the same
// passes, every transition away from the step's start fails saying what
// changed, an unknown state included.
func TestChange(t *testing.T) {
	enabled := State{State: "enabled", Ops: "simple"}
	for _, tc := range []struct {
		name   string
		base   State
		fs     fstest.MapFS
		errHas string
	}{
		{"steady", enabled, sysfs("enabled", "simple"), ""},
		{"no sched_ext stays none", State{State: NoSchedExt}, sysfs("", ""), ""},
		{"disabling", enabled, sysfs("disabling", "simple"), `sched_ext disabling (was enabled with "simple")`},
		{"disabled", enabled, sysfs("disabled", ""), `sched_ext disabled (was enabled with "simple")`},
		{"other ops", enabled, sysfs("enabled", "qmap"), `ops changed from "simple" to "qmap"`},
		{"enabled later", State{State: "disabled"}, sysfs("enabled", "simple"), "changed from disabled to enabled (simple)"},
		{"unknown", enabled, sysfs("wedged", ""), `sched_ext state "wedged": unknown`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now, err := ReadState(tc.fs)
			err = Change(tc.base, now, err)
			if (tc.errHas == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("Change(%v, %v) = %v, want an error with %q", tc.base, now, err, tc.errHas)
			}
		})
	}
}

func TestReadEvents(t *testing.T) {
	ev, err := ReadEvents(sysfs("enabled", "simple"))
	if ev != nil || err != nil {
		t.Fatalf("without an events file: %v, %v; want nil, nil", ev, err)
	}
	fs := sysfs("enabled", "simple")
	fs["sched_ext/root/events"] = &fstest.MapFile{Data: []byte("SCX_EV_SELECT_CPU_FALLBACK 3\nSCX_EV_DISPATCH_KEEP_LAST 0\n")}
	ev, err = ReadEvents(fs)
	if err != nil || len(ev) != 2 || ev["SCX_EV_SELECT_CPU_FALLBACK"] != 3 {
		t.Fatalf("ReadEvents = %v, %v", ev, err)
	}
	fs["sched_ext/root/events"] = &fstest.MapFile{Data: []byte("SCX_EV_X many\n")}
	if _, err := ReadEvents(fs); err == nil || !strings.Contains(err.Error(), `SCX_EV_X: "many" is not a count`) {
		t.Fatalf("a bad count: %v", err)
	}
}

// TestDisableReason reads fixture kernel logs shaped as 6.12's
// kernel/sched/ext.c prints them.
func TestDisableReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []string
		want string
	}{
		{"none", []string{"Linux version 6.12", "sched_ext: BPF scheduler \"simple\" enabled"}, ""},
		{"user space", []string{
			`sched_ext: BPF scheduler "simple" enabled`,
			`sched_ext: BPF scheduler "simple" disabled (unregistered from user space)`,
		}, `BPF scheduler "simple" disabled (unregistered from user space)`},
		{"error, the last one", []string{
			`sched_ext: BPF scheduler "simple" disabled (unregistered from user space)`,
			`sched_ext: BPF scheduler "qmap" enabled`,
			`random: crng init done`,
			`sched_ext: BPF scheduler "qmap" disabled (runtime error)`,
			`sched_ext: qmap: scx_bpf_error after 2000 enqueues`,
			`sched_ext: qmap: more`,
			`sched_ext: qmap: and more`,
		}, `BPF scheduler "qmap" disabled (runtime error); qmap: scx_bpf_error after 2000 enqueues; qmap: more`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DisableReason(tc.msgs); got != tc.want {
				t.Fatalf("DisableReason = %q, want %q", got, tc.want)
			}
		})
	}
}
