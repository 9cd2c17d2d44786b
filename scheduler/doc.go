// Package scheduler is the scheduler under test as ktstar sees it: a
// process it started (Start) or only watches (Attach), with its output
// kept and optionally streamed with a prefix, and the kernel's sched_ext
// state read from /sys/kernel/sched_ext over an fs.FS (ReadState,
// ReadEvents), so fixtures test the state machine (Change) where the
// kernel has no sched_ext. Stop ends only a started process: SIGINT, then
// SIGKILL after a deadline. The last "sched_ext" lines of /dev/kmsg say why
// the kernel disabled a BPF scheduler (DisableReason).
//
// It is plain Go: the Starlark module is starlib's scheduler.go.
package scheduler
