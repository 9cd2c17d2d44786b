package workload

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// cpuSet builds a CPU mask from CPU numbers. It is the one conversion from
// ktstar's CPU lists to the kernel's mask; bodies build their masks with it
// before the loop, so the loop does not allocate.
func cpuSet(cpus ...int) unix.CPUSet {
	var s unix.CPUSet
	for _, c := range cpus {
		s.Set(c)
	}
	return s
}

// cpuList is cpuSet's inverse: the CPUs set in s, ascending.
func cpuList(s *unix.CPUSet) []int {
	var cpus []int
	for c := range len(s) * 64 {
		if s.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// pin sets the CPU mask of task tid (0: the calling thread) to cpus. The
// error names the CPU list.
func pin(tid int, cpus []int) error {
	set := cpuSet(cpus...)
	if err := unix.SchedSetaffinity(tid, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(%s): %w", FormatCPUList(cpus), err)
	}
	return nil
}
