package workload

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futex operations; x/sys/unix has the syscall number but not the ops.
// Workers are separate processes, so the shared (non-PRIVATE) ops are used.
const (
	futexWait = 0
	futexWake = 1
)

// stopPoll bounds every synchronisation wait so a worker re-checks its
// stop flag at least this often (ktstr's WORKER_STOP_POLL_NS).
const stopPoll = 100 * time.Millisecond

// nanotime is CLOCK_MONOTONIC in ns through the vDSO, comparable across
// processes. The runtime keeps this linkname stable for outside users.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// The synchronisation waits of the loops (futex, pipe poll, read, write)
// use raw syscalls: the runtime is not told the thread blocks, so it
// neither hands the worker's only P to another thread during the wait nor
// has to take one back before the worker can run again. That hand-off was
// most of what Go added to a wake-up. Workload sleeps stay on the ordinary
// path, because sysmon interrupts a raw block longer than 10 ms with its
// preemption signal; the bounded waits below just retry on EINTR.

// futexWaitTimeout blocks while *addr == val, at most d. It reports
// whether a FUTEX_WAKE ended the wait: false when the word had already
// changed (the thread never slept), on timeout and on a signal.
func futexWaitTimeout(addr *uint32, val uint32, d time.Duration) bool {
	ts := unix.NsecToTimespec(int64(d))
	_, _, e := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return e == 0
}

// futexWaitLong is futexWaitTimeout for long waits outside the loop (the
// start gate): through the runtime's syscall path, because sysmon
// interrupts a raw block with its preemption signal every 10 ms, which
// for thousands of parked workers is a signal storm.
func futexWaitLong(addr *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWakeN wakes up to n waiters on addr; n is clamped to int32.
func futexWakeN(addr *uint32, n int) {
	if n > 1<<31-1 {
		n = 1<<31 - 1
	}
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// rawRead reads into b once; it returns the byte count, or -1 on error.
func rawRead(fd int, b []byte) int {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1
	}
	return int(n)
}

// rawWrite writes b once; it returns the byte count, or -1 on error.
func rawWrite(fd int, b []byte) int {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1
	}
	return int(n)
}

// rawWait4 waits for child pid once, storing its status in ws.
func rawWait4(pid int, ws *unix.WaitStatus) error {
	_, _, e := unix.RawSyscall6(unix.SYS_WAIT4, uintptr(pid), uintptr(unsafe.Pointer(ws)), 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getcpu returns the CPU the calling thread runs on (0 if the call fails).
func getcpu() int {
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return 0
	}
	return int(cpu)
}

// threadCPUTime returns the calling thread's CPU time in ns.
func threadCPUTime() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// nanosleep sleeps once for d with the raw syscall, so the kernel path under
// test is one hrtimer sleep of the locked thread, not a Go timer.
func nanosleep(d time.Duration) error {
	ts := unix.NsecToTimespec(int64(d))
	return unix.Nanosleep(&ts, nil)
}

// sleepFull sleeps for d, resuming after interruptions until it has elapsed.
func sleepFull(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for {
		var rem unix.Timespec
		if err := unix.Nanosleep(&ts, &rem); err != unix.EINTR {
			return
		}
		ts = rem
	}
}

// pollIn waits up to d for fd to become readable. It returns the revents.
func pollIn(fd int, d time.Duration) int16 {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(d))
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 || n == 0 {
		return 0
	}
	return fds[0].Revents
}
