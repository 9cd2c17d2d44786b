package workload

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Schedstat is one task's /proc/<pid>/task/<tid>/schedstat.
type Schedstat struct {
	CPUTimeNs  uint64 // time spent on the CPU
	RunDelayNs uint64 // time spent runnable, waiting for a CPU
	RunCount   uint64 // times scheduled in (not a context-switch count)
}

// ParseSchedstat parses the three fields of a schedstat file.
func ParseSchedstat(r io.Reader) (Schedstat, error) {
	var s Schedstat
	if _, err := fmt.Fscan(r, &s.CPUTimeNs, &s.RunDelayNs, &s.RunCount); err != nil {
		return Schedstat{}, fmt.Errorf("parse schedstat: %w", err)
	}
	return s, nil
}

func readSchedstat(tid int) (Schedstat, error) {
	f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return Schedstat{}, err
	}
	defer f.Close()
	return ParseSchedstat(f)
}

// ParseNumaMaps sums the resident pages per NUMA node over every mapping of
// a numa_maps file (tokens N<node>=<pages>). Lines whose first field is not
// a hex address are skipped.
func ParseNumaMaps(r io.Reader) (map[int]uint64, error) {
	pages := map[int]uint64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if _, err := strconv.ParseUint(fields[0], 16, 64); err != nil {
			continue
		}
		for _, f := range fields[1:] {
			if len(f) < 2 || f[0] != 'N' {
				continue
			}
			node, count, ok := strings.Cut(f[1:], "=")
			if !ok {
				continue
			}
			n, err1 := strconv.Atoi(node)
			c, err2 := strconv.ParseUint(count, 10, 64)
			if err1 == nil && err2 == nil {
				pages[n] += c
			}
		}
	}
	return pages, sc.Err()
}

func readNumaPages() map[int]uint64 {
	f, err := os.Open("/proc/self/numa_maps")
	if err != nil {
		return map[int]uint64{}
	}
	defer f.Close()
	pages, _ := ParseNumaMaps(f)
	return pages
}

// ParseVmstatField returns the value of the first line of /proc/vmstat that
// names key, or 0 when it is missing.
func ParseVmstatField(r io.Reader, key string) (uint64, error) {
	sc := bufio.NewScanner(r)
	prefix := []byte(key + " ")
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, prefix) {
			return strconv.ParseUint(string(bytes.TrimSpace(line[len(prefix):])), 10, 64)
		}
	}
	return 0, sc.Err()
}

func readVmstatMigrated() uint64 {
	f, err := os.Open("/proc/vmstat")
	if err != nil {
		return 0
	}
	defer f.Close()
	v, _ := ParseVmstatField(f, "numa_pages_migrated")
	return v
}
