package workload

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Scheduling classes a work type can give one position of its group
// (AsymmetricWaker's waker_class and wakee_class). The mapping follows
// runtime.md §3.2, except Ext, which asks for SCHED_EXT and fails clearly
// on a kernel without sched_ext instead of silently running as Normal.
var schedClasses = []string{"Cfs", "Batch", "Idle", "Rt", "Deadline", "Ext"}

// Kernel policy numbers x/sys/unix does not name.
const (
	schedDeadline = 6
	schedExt      = 7
)

// The Deadline class reservation: the smallest runtime the kernel accepts
// (2^DL_SCALE ns, "1 µs" in ktstr's words), in a 1 ms deadline and a 10 ms
// period.
const (
	dlRuntime  = 1024
	dlDeadline = time.Millisecond
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
		attr = unix.SchedAttr{Policy: schedDeadline, Runtime: dlRuntime, Deadline: uint64(dlDeadline), Period: uint64(dlPeriod)}
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
