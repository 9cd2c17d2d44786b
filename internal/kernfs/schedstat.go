package kernfs

import (
	"fmt"
	"io"
	"io/fs"
	"math"
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
	b, err := io.ReadAll(r)
	if err != nil {
		return Schedstat{}, err
	}
	return ParseSchedstatBytes(b)
}

// ParseSchedstatBytes parses the three fields of a schedstat file read
// into b. It allocates nothing unless it fails, so a worker's loop can
// read its schedstat at each phase change.
func ParseSchedstatBytes(b []byte) (Schedstat, error) {
	var f [3]uint64
	for i := range f {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
			b = b[1:]
		}
		n := 0
		for ; n < len(b) && b[n] >= '0' && b[n] <= '9'; n++ {
			if f[i] > (math.MaxUint64-uint64(b[n]-'0'))/10 {
				return Schedstat{}, fmt.Errorf("%w: schedstat: field %d overflows 64 bits", ErrParse, i+1)
			}
			f[i] = f[i]*10 + uint64(b[n]-'0')
		}
		if n == 0 {
			return Schedstat{}, fmt.Errorf("%w: schedstat: field %d is not an unsigned integer (%q)", ErrParse, i+1, truncate(b, 20))
		}
		b = b[n:]
	}
	return Schedstat{CPUTimeNs: f[0], RunDelayNs: f[1], RunCount: f[2]}, nil
}

// truncate is b's first n bytes, for an error.
func truncate(b []byte, n int) string { return string(b[:min(n, len(b))]) }
