package workload

import "github.com/ktstar/ktstar/internal/kernfs"

// What a worker reads from /proc at the start and end of its loop (never
// inside it); the parsers are internal/kernfs's.

func readSchedstat(tid int) (kernfs.Schedstat, error) {
	return kernfs.ReadSchedstat(kernfs.Proc, tid)
}

// readNumaPages returns this process's resident pages per NUMA node, over
// every mapping; empty when numa_maps cannot be read (no NUMA support).
func readNumaPages() map[int]uint64 {
	maps, err := kernfs.ReadNumaMaps(kernfs.Proc, "self")
	if err != nil {
		return map[int]uint64{}
	}
	return kernfs.SumPages(maps, nil)
}

// readVmstatMigrated returns the system-wide numa_pages_migrated counter,
// 0 when the kernel does not have it.
func readVmstatMigrated() uint64 {
	v, _ := kernfs.ReadVmstat(kernfs.Proc)
	return v["numa_pages_migrated"]
}
