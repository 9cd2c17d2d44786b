package workload

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/ktstar/ktstar/internal/cpulist"
)

// Identity and placement steps of the worker prologue that follow comm
// (runtime.md §4.6 steps 7–9): gid, then uid, then the NUMA node's CPUs.
// A thread host applies the node's CPUs in each thread before the
// process-wide credentials, once every thread has done its privileged
// set-up.

// nodeCPUs returns the CPUs of NUMA node c.NUMANode (nil when unset),
// failing, before anything forks, for a node that is not online or has
// no CPUs.
func (c *Config) nodeCPUs() ([]int, error) {
	if c.NUMANode == nil {
		return nil, nil
	}
	n := *c.NUMANode
	online, _ := os.ReadFile("/sys/devices/system/node/online")
	b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/node/node%d/cpulist", n))
	if err != nil {
		return nil, invalid("numa_node = %d: no such NUMA node (online nodes: %s)", n, strings.TrimSpace(string(online)))
	}
	cpus, err := cpulist.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("numa_node = %d: %w", n, err)
	}
	if len(cpus) == 0 {
		return nil, invalid("numa_node = %d: the node has memory but no CPUs to run on (online nodes: %s)", n, strings.TrimSpace(string(online)))
	}
	return cpus, nil
}

// applyIDs sets the credentials of the calling worker: setresgid before
// setresuid (once the uid is dropped, the gid can no longer change). The
// syscall package's calls change every thread of the process, so the
// runtime's threads (and a thread host's workers) do not keep root.
func applyIDs(uid, gid *int) error {
	if g := gid; g != nil {
		if err := syscall.Setresgid(*g, *g, *g); err != nil {
			return fmt.Errorf("setresgid(gid = %d): %w", *g, err)
		}
	}
	if u := uid; u != nil {
		if err := syscall.Setresuid(*u, *u, *u); err != nil {
			return fmt.Errorf("setresuid(uid = %d): %w", *u, err)
		}
	}
	return nil
}

// applyNode restricts the calling thread to a NUMA node's CPUs, which
// replace any affinity mask; nil does nothing.
func applyNode(cpus []int) error {
	if len(cpus) > 0 {
		if err := pin(0, cpus); err != nil {
			return fmt.Errorf("numa_node affinity %s: %w", cpulist.Format(cpus), err)
		}
	}
	return nil
}
