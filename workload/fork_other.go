//go:build !amd64

package workload

import "golang.org/x/sys/unix"

// forkExit is only written for amd64; elsewhere ForkExit reports ENOSYS
// from every fork.
func forkExit() (pid int, errno uintptr) { return -1, uintptr(unix.ENOSYS) }

// shrinkForkedAddressSpace has nothing to do where forkExit never forks.
func shrinkForkedAddressSpace() error { return nil }
