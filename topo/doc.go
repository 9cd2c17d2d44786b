// Package topo describes the machine's CPU and memory layout and the
// cpusets scripts ask for relative to it. It is plain Go (no Starlark) so
// the spawner, the checks, the Starlark modules and the CLI share one
// reading of sysfs.
//
//   - Topology: online CPUs, last-level caches with their cores and SMT
//     siblings, NUMA nodes (memory-only ones included) and their SLIT
//     distances; Read takes any fs.FS rooted at /sys, so tests use the
//     fixture trees in testdata, and Host reads the real one.
//   - CpusetSpec: llc, numa, range, disjoint, overlap and exact sets
//     (runtime.md §7.2), validated and resolved against a Topology.
//   - OnlineCPUs, OnlineNodes, NodeCPUList: the one reader of each sysfs
//     list file, for callers that need no full Topology; AllowedCPUs, the
//     one reader of the calling thread's CPU mask.
package topo
