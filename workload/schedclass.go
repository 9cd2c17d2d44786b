package workload

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Scheduling classes a work type can give one position of its group
// (AsymmetricWaker's waker_class and wakee_class). The mapping follows
// runtime.md §3.2, except the Deadline reservation (below) and Ext, which
// asks for SCHED_EXT and fails clearly on a kernel without sched_ext
// instead of silently running as Normal.
var schedClasses = []string{"Cfs", "Batch", "Idle", "Rt", "Deadline", "Ext"}

// The Deadline class reservation: 1 ms every 10 ms. ktstr's mapping asks
// for 1 µs in a 1 ms deadline (and, through its pid-0 bug, likely never
// applies it); 1 µs is below the kernel's 1024 ns minimum, and even that
// minimum throttles a worker so hard that a 30 µs spin burst takes a third
// of a second and writing the report outlasts the stop deadline.
const (
	dlRuntime  = time.Millisecond
	dlDeadline = 10 * time.Millisecond
	dlPeriod   = 10 * time.Millisecond
)

// applyClass moves the calling thread to the named class. param names the
// parameter that chose it, for the error.
func applyClass(param, class string) error {
	var attr unix.SchedAttr
	switch class {
	case "Cfs":
		attr.Policy = unix.SCHED_NORMAL
	case "Batch":
		attr.Policy = unix.SCHED_BATCH
	case "Idle":
		attr.Policy = unix.SCHED_IDLE
	case "Rt":
		return setPolicy(param+` = "Rt"`, Fifo(50))
	case "Deadline":
		return setPolicy(param+` = "Deadline"`, Deadline(dlRuntime, dlDeadline, dlPeriod))
	case "Ext":
		return setPolicy(param+` = "Ext"`, Ext())
	default:
		return fmt.Errorf("%s = %q: unknown scheduling class", param, class)
	}
	attr.Size = unix.SizeofSchedAttr
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("%s = %q: sched_setattr: %w", param, class, err)
	}
	return nil
}

// applyPolicy sets the calling thread's scheduling policy. A failure is an
// error: a run that silently kept SCHED_OTHER would measure the wrong thing.
func applyPolicy(p SchedPolicy) error {
	if p.Kind == PolicyNormal {
		return nil
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: uint32(p.Kind), Priority: uint32(p.Priority)}
	// sched_setattr gives a fair policy (batch, ext) the nice in attr:
	// keep the inherited one, as sched_setscheduler (ktstr's call) does.
	if n, err := threadNice(); err == nil {
		attr.Nice = int32(n)
	}
	if p.Kind == PolicyDeadline {
		attr.Runtime, attr.Deadline, attr.Period = uint64(p.Runtime), uint64(p.Deadline), uint64(p.Period)
		// A DEADLINE task may not fork (EAGAIN): with reset-on-fork the
		// threads the Go runtime creates later start as SCHED_NORMAL.
		attr.Flags = unix.SCHED_FLAG_RESET_ON_FORK
	}
	err := unix.SchedSetAttr(0, &attr, 0)
	switch {
	case err == nil:
		return nil
	case p.Kind == PolicyDeadline && errors.Is(err, unix.EBUSY):
		return fmt.Errorf("sched policy %s: sched_setattr: %w (deadline bandwidth exceeded: %s)", p, err, dlBandwidth(p))
	case p.Kind == PolicyDeadline && errors.Is(err, unix.EPERM):
		return fmt.Errorf("sched policy %s: sched_setattr: %w (needs CAP_SYS_NICE and an affinity spanning the whole root domain: use inherit())", p, err)
	case p.Kind == PolicyExt && errors.Is(err, unix.EINVAL):
		return fmt.Errorf("sched policy %s: sched_setattr(SCHED_EXT): %w (this kernel has no sched_ext)", p, err)
	case p.realtime() && errors.Is(err, unix.EPERM):
		return fmt.Errorf("sched policy %s: %w (real-time policies need CAP_SYS_NICE)", p, err)
	}
	return fmt.Errorf("sched policy %s: %w", p, err)
}

// dlBandwidth explains a refused Deadline reservation with its figures:
// what one worker asks, and what the kernel admits in all.
func dlBandwidth(p SchedPolicy) string {
	share := float64(p.Runtime) / float64(p.period())
	s := fmt.Sprintf("each worker reserves runtime %v every %v, %.1f%% of a CPU", p.Runtime, p.period(), 100*share)
	rt, err1 := readInt("/proc/sys/kernel/sched_rt_runtime_us")
	per, err2 := readInt("/proc/sys/kernel/sched_rt_period_us")
	if err1 == nil && err2 == nil && per > 0 {
		s += fmt.Sprintf("; the kernel admits DEADLINE tasks up to kernel.sched_rt_runtime_us/sched_rt_period_us = %d/%d = %.0f%% of each of the root domain's %d CPUs, counting those already admitted",
			rt, per, 100*float64(rt)/float64(per), runtime.NumCPU())
	}
	return s + ": spawn fewer workers or reserve less runtime"
}

// extAvailable checks, before anything forks, that the kernel has
// sched_ext for a policy that asks for it.
func extAvailable(p SchedPolicy) error {
	if p.Kind != PolicyExt {
		return nil
	}
	if _, err := os.Stat("/sys/kernel/sched_ext"); err != nil {
		return fmt.Errorf("sched policy %s: this kernel has no sched_ext (/sys/kernel/sched_ext is absent; boot one built with CONFIG_SCHED_CLASS_EXT)", p)
	}
	return nil
}

// extClass says which class the kernel gave a thread that just set
// SCHED_EXT (Report.SchedExt). The kernel's rule (task_should_scx): a
// SCHED_EXT task runs on the BPF scheduler while one is enabled, in the
// fair class otherwise. The two sysfs files are read here, not through
// package scheduler, which workers may not import (internal/layers).
func extClass() string {
	b, err := os.ReadFile("/sys/kernel/sched_ext/state")
	if err != nil {
		return "unknown: " + err.Error()
	}
	state := strings.TrimSpace(string(b))
	if state == "enabled" {
		ops, _ := os.ReadFile("/sys/kernel/sched_ext/root/ops")
		return "ext: BPF scheduler " + strings.TrimSpace(string(ops))
	}
	return "fair: no BPF scheduler loaded (sched_ext " + state + ")"
}

// setPolicy applies a policy to the calling thread on behalf of one
// position of a group; what says which (e.g. "high tier").
func setPolicy(what string, p SchedPolicy) error {
	if err := applyPolicy(p); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
