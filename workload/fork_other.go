//go:build !amd64

package workload

import "golang.org/x/sys/unix"

// forkExit is only written for amd64; elsewhere ForkExit reports ENOSYS
// from every fork.
func forkExit() (pid int, errno uintptr) { return -1, uintptr(unix.ENOSYS) }

// addressShrinker has nothing to do where forkExit never forks.
type addressShrinker struct{}

func (*addressShrinker) open() error   { return nil }
func (*addressShrinker) shrink() error { return nil }
func (*addressShrinker) close()        {}
