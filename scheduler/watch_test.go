package scheduler

import (
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// seqFS serves sched_ext's sysfs fixtures in turn: each ReadState (one
// open of sched_ext/state) moves to the next, the last one stays.
type seqFS struct {
	mu    sync.Mutex
	steps []fstest.MapFS
	reads int
}

func (s *seqFS) Open(name string) (fs.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.steps[min(s.reads, len(s.steps)-1)]
	if name == "sched_ext/state" {
		s.reads++
	}
	return cur.Open(name)
}

// TestWatchDisable walks Check through the kernel's order (fixtures: this
// kernel may have no sched_ext): sched_ext turns "disabling" before the
// kernel prints why, so Check waits for the message; a disable printed
// before the watch began (an earlier run) is not taken for the reason.
func TestWatchDisable(t *testing.T) {
	self, err := Attach(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	old := []string{
		`sched_ext: BPF scheduler "simple" enabled`,
		`sched_ext: BPF scheduler "simple" disabled (unregistered from user space)`,
		`sched_ext: BPF scheduler "qmap" enabled`,
	}
	for _, tc := range []struct {
		name     string
		later    []string // records the kernel log gains after the watch began
		logAfter int      // kernel log reads before they appear
		want     string
	}{
		{"reason after disabling", []string{
			`sched_ext: BPF scheduler "qmap" disabled (runtime error)`,
			`sched_ext: qmap: scx_bpf_error after 2000 enqueues`,
		}, 3, `sched_ext disabled during step 2: BPF scheduler "qmap" disabled (runtime error); qmap: scx_bpf_error after 2000 enqueues`},
		{"no new reason", nil, 0, `sched_ext disabled during step 2: sched_ext disabling (was enabled with "qmap")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := &seqFS{steps: []fstest.MapFS{sysfs("enabled", "qmap"), sysfs("enabled", "qmap"), sysfs("disabling", "qmap")}}
			var mu sync.Mutex
			reads := 0
			kmsg := func() ([]string, error) {
				mu.Lock()
				defer mu.Unlock()
				reads++
				if reads > tc.logAfter {
					return append(append([]string{}, old...), tc.later...), nil
				}
				return old, nil
			}
			w, err := NewWatch(self, fsys, kmsg)
			if err != nil {
				t.Fatal(err)
			}
			if f := w.Check(); f != nil {
				t.Fatalf("steady state: %+v", f)
			}
			f := w.Check()
			if f == nil || f.Kind != "sched_ext" || f.Message(2) != tc.want {
				t.Fatalf("Check = %+v\nwant %s", f, tc.want)
			}
		})
	}
}

// TestWatchUnknownState: a state ktstar does not know fails the step,
// named, instead of passing unnoticed.
func TestWatchUnknownState(t *testing.T) {
	self, err := Attach(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fsys := &seqFS{steps: []fstest.MapFS{sysfs("enabled", "simple"), sysfs("wedged", "")}}
	w, err := NewWatch(self, fsys, func() ([]string, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if f := w.Check(); f == nil || !strings.Contains(f.Message(1), `sched_ext state "wedged": unknown`) {
		t.Fatalf("Check = %+v, want the unknown state named", f)
	}
}
