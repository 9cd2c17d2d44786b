package workload

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// procField returns the value of the "name: value" line of
// /proc/PID/<file>, e.g. "policy" of sched or "Uid" of status.
func procField(t *testing.T, pid int, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/%s has no %s:\n%s", pid, file, name, b)
	return ""
}

// TestDeadlinePolicy spawns SCHED_DEADLINE workers and checks from
// outside: /proc/PID/sched shows policy 6, sched_getattr on the pid the
// reservation asked for, and the workers run and report.
func TestDeadlinePolicy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SCHED_DEADLINE needs CAP_SYS_NICE (run as root)")
	}
	leakCheck(t)
	// 10 % of a CPU: less throttles the worker so hard that writing its
	// report outlasts the stop deadline; other tests' DEADLINE tasks on a
	// shared machine (still being reaped under load) may hold the rest.
	pol := Deadline(time.Millisecond, 5*time.Millisecond, 10*time.Millisecond)
	h, err := Spawn(Config{Workers: 1, Work: MustWork("SpinWait", nil), Policy: pol})
	if err != nil && strings.Contains(err.Error(), "deadline bandwidth exceeded") {
		t.Skipf("other DEADLINE tasks hold this machine's bandwidth: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for _, pid := range h.Pids() {
		if got := procField(t, pid, "sched", "policy"); got != "6" {
			t.Errorf("worker %d: /proc/PID/sched policy = %s, want 6 (SCHED_DEADLINE)", pid, got)
		}
		attr, err := unix.SchedGetAttr(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if attr.Runtime != uint64(pol.Runtime) || attr.Deadline != uint64(pol.Deadline) || attr.Period != uint64(pol.Period) {
			t.Errorf("worker %d: runtime/deadline/period = %d/%d/%d ns, want %d/%d/%d", pid, attr.Runtime, attr.Deadline, attr.Period, pol.Runtime, pol.Deadline, pol.Period)
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 10)
	stopWork(t, h)
}

// TestDeadlineGate refuses reservations the kernel would reject, before
// any worker exists, naming the values.
func TestDeadlineGate(t *testing.T) {
	leakCheck(t)
	ms := time.Millisecond
	tests := []struct {
		pol  SchedPolicy
		want string // "" admits the reservation
	}{
		{Deadline(5*ms, 2*ms, 10*ms), "runtime = 5ms exceeds deadline = 2ms"},
		{Deadline(ms, 20*ms, 10*ms), "deadline = 20ms exceeds period = 10ms"},
		{Deadline(5*ms, 2*ms, 0), "runtime = 5ms exceeds deadline = 2ms"},
		{Deadline(500, ms, 0), "runtime = 500ns is below the kernel's minimum of 1.024µs"},
		{Deadline(10*time.Microsecond, 50*time.Microsecond, 0), "period = 50µs is out of range (allowed: 100µs..4s"},
		{Deadline(ms, 10*ms, 5*time.Second), "period = 5s is out of range"},
		{Deadline(ms, 10*ms, 0), ""},
		{Deadline(ms, ms, ms), ""},
	}
	for _, tc := range tests {
		c := Config{Workers: 1, Policy: tc.pol}
		err := c.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.pol, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.pol, err, tc.want)
		}
		if _, err := Spawn(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Spawn err = %v, want the gate's refusal", tc.pol, err)
		}
	}
}

// TestDeadlineBandwidthExceeded asks for more deadline bandwidth than the
// kernel admits: one worker more than there are CPUs, each reserving 90%
// of one. The spawn fails as bandwidth exceeded, with the figures, and
// leaves nothing behind, also when the workers are threads of a host
// (the threads already admitted leave with it).
func TestDeadlineBandwidthExceeded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SCHED_DEADLINE needs CAP_SYS_NICE (run as root)")
	}
	if rt, err := readInt("/proc/sys/kernel/sched_rt_runtime_us"); err != nil || rt < 0 {
		t.Skipf("kernel.sched_rt_runtime_us = %d (%v): deadline admission control is off", rt, err)
	}
	for _, mode := range []CloneMode{CloneFork, CloneThread} {
		t.Run(mode.String(), func(t *testing.T) {
			leakCheck(t)
			n := runtime.NumCPU() + 1
			_, err := Spawn(Config{Workers: n, Work: MustWork("SpinWait", nil), Policy: Deadline(9*time.Millisecond, 10*time.Millisecond, 0), CloneMode: mode})
			for _, want := range []string{"deadline bandwidth exceeded", "each worker reserves runtime 9ms every 10ms, 90.0% of a CPU", "kernel.sched_rt_runtime_us/sched_rt_period_us = "} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%d workers at 90%% of a CPU each: err = %v, want one containing %q", n, err, want)
				}
			}
		})
	}
}

// TestExtPolicy runs SCHED_EXT workers where the kernel has sched_ext
// (policy 7 in /proc/PID/sched) and elsewhere checks the refusal comes
// before any worker exists, saying why.
func TestExtPolicy(t *testing.T) {
	leakCheck(t)
	cfg := Config{Workers: 1, Work: MustWork("SpinWait", nil), Policy: Ext()}
	if _, err := os.Stat("/sys/kernel/sched_ext"); err != nil {
		_, err := Spawn(cfg)
		if err == nil || !strings.Contains(err.Error(), "sched policy ext(): this kernel has no sched_ext") {
			t.Fatalf("ext() without sched_ext: err = %v", err)
		}
		return
	}
	h := spawnWork(t, cfg)
	if got := procField(t, h.Pids()[0], "sched", "policy"); got != "7" {
		t.Errorf("/proc/PID/sched policy = %s, want 7 (SCHED_EXT)", got)
	}
	stopWork(t, h)
}
