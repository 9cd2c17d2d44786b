package workload

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Scheduling classes a work type can give one position of its group
// (AsymmetricWaker's waker_class and wakee_class). The mapping follows
// runtime.md §3.2, except the Deadline reservation (below) and Ext, which
// asks for SCHED_EXT and fails clearly on a kernel without sched_ext
// instead of silently running as Normal.
var schedClasses = []string{"Cfs", "Batch", "Idle", "Rt", "Deadline", "Ext"}

// Kernel policy numbers x/sys/unix does not name.
const (
	schedDeadline = 6
	schedExt      = 7
)

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
		attr = unix.SchedAttr{Policy: schedDeadline, Runtime: uint64(dlRuntime), Deadline: uint64(dlDeadline), Period: uint64(dlPeriod)}
	case "Ext":
		attr.Policy = schedExt
	default:
		return fmt.Errorf("%s = %q: unknown scheduling class", param, class)
	}
	attr.Size = unix.SizeofSchedAttr
	err := unix.SchedSetAttr(0, &attr, 0)
	switch {
	case err == nil:
		return nil
	case class == "Deadline" && errors.Is(err, unix.EPERM):
		return fmt.Errorf("%s = %q: sched_setattr(SCHED_DEADLINE): %w (needs CAP_SYS_NICE and an affinity spanning the whole root domain: use inherit())", param, class, err)
	case class == "Deadline" && errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%s = %q: sched_setattr(SCHED_DEADLINE): %w (deadline bandwidth admission refused the reservation)", param, class, err)
	case class == "Ext" && errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%s = %q: sched_setattr(SCHED_EXT): %w (this kernel has no sched_ext)", param, class, err)
	}
	return fmt.Errorf("%s = %q: sched_setattr: %w", param, class, err)
}

// setPolicy applies a policy to the calling thread on behalf of one
// position of a group; what says which (e.g. "high tier").
func setPolicy(what string, p SchedPolicy) error {
	if err := applyPolicy(p); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
