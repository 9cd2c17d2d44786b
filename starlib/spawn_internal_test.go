package starlib

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/workload"
)

// TestCgroupFallbackIsReported: a spawn whose workers had to be moved into
// their cgroup warns once and carries the reason into the run's JSON.
// Where the kernel supports CLONE_INTO_CGROUP a script cannot force the
// fallback, so the reason workload.Handle.CgroupFallback would give is
// passed in directly; the workers, the stop and the run are real.
func TestCgroupFallbackIsReported(t *testing.T) {
	c := workload.Config{Workers: 1}
	wh, err := workload.Spawn(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Close)
	s := NewSession(Options{})
	h := &Handle{h: wh, cfg: c, session: s, seq: 1, name: "SpinWait"}
	reason := errors.New("start inside cgroup /ktstar-1/web failed, so workers are moved through cgroup.procs: operation not supported")
	var warn strings.Builder
	h.noteCgroupFallback(reason, &warn)
	if want := "ktstar: warning: SpinWait: " + reason.Error() + "\n"; warn.String() != want {
		t.Errorf("warning %q, want %q", warn.String(), want)
	}
	if _, err := h.stop(&starlark.Thread{}, starlark.NewBuiltin("stop", nil), nil, nil); err != nil {
		t.Fatal(err)
	}
	runs := s.Runs()
	if len(runs) != 1 || runs[0].CgroupFallback != reason.Error() {
		t.Fatalf("runs %+v: want one carrying the fallback", runs)
	}
	b, err := json.Marshal(runs[0])
	if err != nil || !strings.Contains(string(b), `"cgroup_fallback":"start inside cgroup /ktstar-1/web failed`) {
		t.Errorf("run JSON %s (%v): want cgroup_fallback", b, err)
	}
}
