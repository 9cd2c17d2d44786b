package testenv

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCPUs(t *testing.T) {
	all := NumCPU(t)
	if all < 1 {
		t.Fatalf("NumCPU = %d, want at least 1", all)
	}
	got := CPUs(t, all)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("CPUs(%d) = %v, want ascending distinct CPUs", all, got)
		}
	}
	if c := CPU(t); c != got[0] {
		t.Errorf("CPU() = %d, want the first of %v", c, got)
	}
	if r := outcome(t, func(t testing.TB) { CPUs(t, all+1) }); r.skip == "" {
		t.Errorf("CPUs(%d) with %d available did not skip", all+1, all)
	}
}

// TestCgroupMode checks the statfs answer against the cgroup2 lines of
// /proc/self/mountinfo, an independent source.
func TestCgroupMode(t *testing.T) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := CgroupNone
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(line, " - cgroup2 ") {
			continue
		}
		switch f[4] {
		case "/sys/fs/cgroup":
			want = CgroupV2
		case "/sys/fs/cgroup/unified":
			want = max(want, CgroupHybrid)
		}
	}
	if got := CgroupMode(); got != want {
		t.Errorf("CgroupMode() = %s, mountinfo says %s", got, want)
	}
	if r := outcome(t, func(t testing.TB) { NeedController(t, "no-such-controller") }); r.skip == "" {
		t.Error("NeedController(no-such-controller) did not skip")
	}
}

func TestNeedQEMUOff(t *testing.T) {
	t.Setenv(RequireToolsEnv, "")
	t.Setenv(GuestEnv, "")
	if r := outcome(t, func(t testing.TB) { NeedQEMU(t, "") }); r.skip == "" {
		t.Errorf("NeedQEMU with %s unset did not skip", GuestEnv)
	}
	t.Setenv(GuestEnv, "1")
	if r := outcome(t, func(t testing.TB) { NeedQEMU(t, "ktstar-no-such-qemu") }); r.skip == "" {
		t.Error("NeedQEMU with a missing binary did not skip")
	}
}

func TestWaitProgress(t *testing.T) {
	var calls uint64
	grow := func() []uint64 { calls++; return []uint64{calls, 2 * calls} }
	WaitProgress(t, grow, 5, 0, time.Minute)
	if calls < 5 {
		t.Errorf("returned after %d reads, before the slowest count reached 5", calls)
	}
	start := time.Now()
	WaitProgress(t, grow, 0, 20*time.Millisecond, time.Minute)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("returned after %v, before the 20ms window", d)
	}
	r := outcome(t, func(t testing.TB) {
		WaitProgress(t, func() []uint64 { return []uint64{1, 0} }, 1, 0, 10*time.Millisecond)
	})
	if !strings.Contains(r.fatal, "no progress: counts [1 0]") {
		t.Errorf("counts that never grow: failure %q", r.fatal)
	}
}

// recorder is a testing.TB that records a skip or a fatal failure
// instead of acting on the real test.
type recorder struct {
	testing.TB
	skip, fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) { r.skip = fmt.Sprint(args...); runtime.Goexit() }

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// outcome runs f on a recorder in a goroutine of its own (Goexit ends it).
func outcome(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

// TestMissingTool checks that a missing tool skips, saying which, and
// fails instead when CI requires every tool.
func TestMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no tool at all
	for _, tc := range []struct {
		name string
		need func(testing.TB)
		want string
	}{
		{"chromium", func(t testing.TB) { NeedChromium(t) }, "no chromium on PATH"},
		{"gcc", NeedCC, "no gcc on PATH"},
		{"qemu", func(t testing.TB) { t.Setenv(GuestEnv, "1"); NeedQEMU(t, "") }, "qemu-system-x86_64 not installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireToolsEnv, "")
			if r := outcome(t, tc.need); !strings.Contains(r.skip, tc.want) || r.fatal != "" {
				t.Errorf("without %s: skip %q, fatal %q; want a skip saying %q", RequireToolsEnv, r.skip, r.fatal, tc.want)
			}
			t.Setenv(RequireToolsEnv, "1")
			if r := outcome(t, tc.need); !strings.Contains(r.fatal, tc.want) || r.skip != "" {
				t.Errorf("with %s: skip %q, fatal %q; want a failure saying %q", RequireToolsEnv, r.skip, r.fatal, tc.want)
			}
		})
	}
}
