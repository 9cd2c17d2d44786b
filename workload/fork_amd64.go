package workload

// forkExit forks a child that calls exit_group(0) at once; see fork_amd64.s.
func forkExit() (pid int, errno uintptr)
