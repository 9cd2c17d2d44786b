package workload

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Test functions are registered in init, which runs before TestMain calls
// Init, so the re-executed worker has them too.
func init() {
	Register("test_loop", testLoop)
	Register("example", testLoop) // what Custom's catalog Example names
	Register("test_fail", func(w *Worker) (map[string]any, error) {
		return nil, errors.New("custom boom")
	})
}

// testLoop spins and yields until stopped, counting its loops.
func testLoop(w *Worker) (map[string]any, error) {
	var loops uint64
	for !w.Stopped() {
		w.SpinBurst(1024)
		w.WakeSample(w.Yield())
		w.Tick()
		loops++
	}
	return map[string]any{"loops": loops, "label": w.Work().Label(), "arg": w.Work().Text("arg")}, nil
}

func TestCustomGoFunction(t *testing.T) {
	work := MustWork("Custom", map[string]any{"name": "my_loop", "fn": "test_loop", "arg": "xyz"})
	if work.Label() != "my_loop" {
		t.Errorf("Label() = %q, want my_loop", work.Label())
	}
	r := runFor(t, Config{Work: work}, 100*time.Millisecond)[0]
	if r.Counters["loops"] == 0 || r.Counters["loops"] != r.Iterations || r.WorkUnits != 1024*r.Iterations {
		t.Errorf("loops = %d, iterations = %d, work_units = %d; want Tick to count each loop of 1024 units", r.Counters["loops"], r.Iterations, r.WorkUnits)
	}
	if r.Extra["label"] != "my_loop" || r.Extra["arg"] != "xyz" || r.WakeSampleTotal != r.Iterations {
		t.Errorf("extra = %v, wake samples = %d; want the function's fields and one sample per loop", r.Extra, r.WakeSampleTotal)
	}
}

func TestCustomErrorIsFailureReport(t *testing.T) {
	h := spawnWork(t, Config{Work: MustWork("Custom", map[string]any{"name": "test_fail"}), Workers: 2})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	// The function returns at once, so each worker exits by itself; wait
	// for that, since a worker stopped before its loop never runs a body.
	for _, pid := range h.Pids() {
		for end := time.Now().Add(collectLimit); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break // exited and reaped
			}
		}
	}
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if r.Completed || r.ExitInfo == nil || r.ExitInfo.Kind != ExitFailed || r.ExitInfo.Error != "custom boom" {
			t.Errorf("report %+v: want completed = false and exit_info failed with the error text", r)
		}
	}
}

func TestCustomUnregistered(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"name": "nope"}, `custom: no function registered as "nope"`},
		{map[string]any{}, `custom: name = "": a custom work needs a name`},
	} {
		if err := buildAndPreflight("Custom", tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("custom(%v): %v, want %q", tc.params, err, tc.want)
		}
	}
	typ, _ := Lookup("Custom")
	if typ.Form() != "Custom(name)" {
		t.Errorf("Form() = %q, want Custom(name)", typ.Form())
	}
}
