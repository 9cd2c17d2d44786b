package kernfs

import (
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// Schedstat is one task's schedstat file (the kernel's
// Documentation/scheduler/sched-stats.rst).
type Schedstat struct {
	CPUTimeNs  uint64 // time spent on the CPU
	RunDelayNs uint64 // time spent runnable, waiting for a CPU
	RunCount   uint64 // times scheduled in (not a context-switch count)
}

// ReadSchedstat reads thread tid's schedstat of this process
// (self/task/TID/schedstat) from proc.
func ReadSchedstat(proc fs.FS, tid int) (Schedstat, error) {
	f, err := proc.Open("self/task/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return Schedstat{}, err
	}
	defer f.Close()
	return ParseSchedstat(f)
}

// ParseSchedstat parses the three fields of a schedstat file.
func ParseSchedstat(r io.Reader) (Schedstat, error) {
	var s Schedstat
	if _, err := fmt.Fscan(r, &s.CPUTimeNs, &s.RunDelayNs, &s.RunCount); err != nil {
		return Schedstat{}, fmt.Errorf("%w: schedstat: %v", ErrParse, err)
	}
	return s, nil
}
