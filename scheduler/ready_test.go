package scheduler

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ktstar/ktstar/internal/standin"
)

func TestParseReady(t *testing.T) {
	for _, tc := range []struct{ in, mode, err string }{
		{"", ReadySchedExt, ""},
		{"sched_ext", ReadySchedExt, ""},
		{"running", ReadyRunning, ""},
		{"line:^ready", ReadyLine, ""},
		{"line:(", "", "missing closing )"},
		{"soon", "", "want sched_ext, running or line:REGEX"},
	} {
		r, err := ParseReady(tc.in)
		if r.Mode != tc.mode || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseReady(%q) = %q, %v; want %q, %q", tc.in, r.Mode, err, tc.mode, tc.err)
		}
	}
}

// TestWaitReady starts the stand-in under each readiness mode, with
// fixture sched_ext files (the stand-in loads no BPF scheduler).
func TestWaitReady(t *testing.T) {
	bin := standin.Build(t)
	enabled := fstest.MapFS{"sched_ext/state": {Data: []byte("enabled")}, "sched_ext/root/ops": {Data: []byte("simple")}}
	disabled := fstest.MapFS{"sched_ext/state": {Data: []byte("disabled")}}
	for _, tc := range []struct {
		name    string
		args    []string
		ready   string
		fs      fstest.MapFS
		timeout time.Duration
		err     []string
	}{
		{"running", nil, "running", nil, time.Minute, nil},
		{"line", nil, "line:^stand-in: ready pid", nil, time.Minute, nil},
		{"sched_ext", nil, "sched_ext", enabled, time.Minute, nil},
		{"early exit", []string{"--exit-after=0ms"}, "line:never", nil, time.Minute,
			[]string{"scheduler stand-in exited before it was ready (exit status 3)", "| stand-in: exiting after 0ms as asked"}},
		{"timeout", nil, "line:never", nil, 200 * time.Millisecond,
			[]string{`scheduler stand-in not ready after 200ms: waited for a line matching "never"`, "| stand-in: ready pid"}},
		{"sched_ext timeout", nil, "sched_ext", disabled, 200 * time.Millisecond,
			[]string{"waited for sched_ext enabled (state: disabled)"}},
		{"no sched_ext", nil, "sched_ext", fstest.MapFS{}, time.Minute, []string{NoSchedExtMsg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReady(tc.ready)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Start(bin, tc.args, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop(0)
			err = WaitReady(context.Background(), p, r, tc.fs, tc.timeout, 50*time.Millisecond)
			if tc.err == nil {
				if err != nil || !p.Alive() {
					t.Fatalf("WaitReady: %v (alive %v)", err, p.Alive())
				}
				return
			}
			for _, want := range tc.err {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("WaitReady: %v\nwant it to contain %q", err, want)
				}
			}
		})
	}
	if err := (Ready{Mode: ReadySchedExt}).CanStart(fstest.MapFS{}); err == nil || !strings.Contains(err.Error(), NoSchedExtMsg) {
		t.Errorf("CanStart without sched_ext: %v", err)
	}
}
