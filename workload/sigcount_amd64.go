package workload

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigCount counts SIGUSR2 deliveries to this worker process. It is global
// because a signal handler has no other context to write to.
var sigCount uint64

// Implemented in assembly; never called from Go.
func sigCountHandler()
func sigCountRestorer()
func sigCountAddrs() (handler, restorer uintptr)

// sigaction is the kernel's struct sigaction on amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saSiginfo  = 0x4
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
)

// installStormHandler replaces the Go runtime's SIGUSR2 handler with a
// no-op handler that counts deliveries. A handler (not an ignored or
// blocked signal) keeps the kernel path under test: each delivery
// interrupts the thread, runs a handler and returns via sigreturn. Go's
// own handler would drop the signal uncounted, and signal.Notify would
// coalesce deliveries and wake a second thread. It reports whether
// deliveries are counted.
func installStormHandler() (bool, error) {
	h, r := sigCountAddrs()
	act := sigaction{handler: h, flags: saSiginfo | saRestorer | saOnstack | saRestart, restorer: r}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGUSR2), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
		return false, fmt.Errorf("rt_sigaction(SIGUSR2): %w", e)
	}
	return true, nil
}

// stormReceived returns the SIGUSR2 deliveries counted so far.
func stormReceived() uint64 { return atomic.LoadUint64(&sigCount) }
