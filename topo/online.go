package topo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// The online lists in sysfs, relative to /sys. One reader each: the
// spawner, the work bodies, the checks and the CLI all ask these.
const (
	cpuOnline  = "devices/system/cpu/online"
	nodeOnline = "devices/system/node/online"
)

// hostSys is the real /sys, the root the Host* readers use.
var hostSys = os.DirFS("/sys")

// OnlineCPUs returns this machine's online CPUs, sorted.
func OnlineCPUs() ([]int, error) { return ReadOnlineCPUs(hostSys) }

// ReadOnlineCPUs reads devices/system/cpu/online from sys, a file system
// rooted at /sys.
func ReadOnlineCPUs(sys fs.FS) ([]int, error) {
	cpus, err := readCPUList(sys, cpuOnline)
	if err != nil {
		return nil, fmt.Errorf("read online CPUs: %w", err)
	}
	return cpus, nil
}

// AllowedCPUs returns the CPUs the calling thread may run on (its
// sched_getaffinity mask, which its cpuset bounds), sorted.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// OnlineNodes returns this machine's online NUMA nodes, sorted.
func OnlineNodes() ([]int, error) { return ReadOnlineNodes(hostSys) }

// ReadOnlineNodes reads devices/system/node/online from sys. A kernel
// built without NUMA has no such file and one node, 0.
func ReadOnlineNodes(sys fs.FS) ([]int, error) {
	nodes, err := readCPUList(sys, nodeOnline)
	if errors.Is(err, fs.ErrNotExist) {
		return []int{0}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read online NUMA nodes: %w", err)
	}
	return nodes, nil
}

// NodeCPUList returns the CPUs of NUMA node n on this machine.
func NodeCPUList(n int) ([]int, error) { return ReadNodeCPUList(hostSys, n) }

// ReadNodeCPUList reads node n's cpulist from sys. Without NUMA (no node
// directory) node 0 holds every online CPU.
func ReadNodeCPUList(sys fs.FS, n int) ([]int, error) {
	cpus, err := readCPUList(sys, path.Join(nodeDir, "node"+strconv.Itoa(n), "cpulist"))
	if errors.Is(err, fs.ErrNotExist) && n == 0 {
		return ReadOnlineCPUs(sys)
	}
	if err != nil {
		return nil, fmt.Errorf("read CPUs of NUMA node %d: %w", n, err)
	}
	return cpus, nil
}
