package topo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ktstar/ktstar/internal/cpulist"
)

// Topology is the machine's CPU and memory layout as sysfs describes it:
// online CPUs, last-level caches (with the SMT siblings of each core) and
// NUMA nodes, including memory-only ones such as CXL memory. Affinity
// intents and CpusetSpecs are resolved against it.
type Topology struct {
	CPUs  []int  // online CPUs that have a sysfs directory, sorted
	LLCs  []LLC  // last-level caches, ordered by LLC id
	Nodes []Node // NUMA nodes, ordered by id, memory-only ones included
	// Warnings lists what discovery had to guess (a missing file, a CPU
	// listed online without a directory). Empty on a well-formed sysfs.
	Warnings []string
}

// LLC is one last-level cache and the CPUs sharing it.
type LLC struct {
	ID      int    // the cache's id file, else the lowest CPU sharing it
	Level   int    // cache level of the index used (3 on most machines)
	CPUs    []int  // sorted
	Node    int    // NUMA node of its lowest CPU
	SizeKiB uint64 // cache size, 0 if unknown
	Cores   []Core // physical cores, by core id
}

// Core is one physical core: its SMT siblings, sorted.
type Core struct {
	ID   int
	CPUs []int
}

// Node is one NUMA node.
type Node struct {
	ID          int
	CPUs        []int  // empty for a memory-only node
	MemTotalKiB uint64 // from the node's meminfo
	MemFreeKiB  uint64
	// Distances is the node's SLIT row, aligned with Topology.Nodes.
	Distances []int
}

// MemoryOnly reports whether the node has memory but no CPUs (CXL or
// other far memory).
func (n Node) MemoryOnly() bool { return len(n.CPUs) == 0 }

// Host reads this machine's topology from /sys.
func Host() (*Topology, error) { return Read(hostSys) }

// cpuDir is where per-CPU directories live, relative to /sys.
const cpuDir = "devices/system/cpu"

// nodeDir is where per-node directories live, relative to /sys.
const nodeDir = "devices/system/node"

// Read reads the topology from sys, a file system rooted at /sys
// (os.DirFS("/sys"), or a fixture tree in tests).
func Read(sys fs.FS) (*Topology, error) {
	t := &Topology{}
	online, err := readCPUList(sys, path.Join(cpuDir, "online"))
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if len(online) == 0 {
		return nil, errors.New("topology: no online CPUs in /sys/devices/system/cpu/online")
	}
	llcs := map[int]*LLC{}
	cpuNode := map[int]int{}
	cores := map[[2]int][]int{} // (llc id, core id) → CPUs
	for _, cpu := range online {
		dir := path.Join(cpuDir, "cpu"+strconv.Itoa(cpu))
		if _, err := fs.Stat(sys, dir); err != nil {
			t.warn("CPU %d is online but %s is missing; skipped", cpu, dir)
			continue
		}
		t.CPUs = append(t.CPUs, cpu)
		cpuNode[cpu] = t.nodeOf(sys, dir, cpu)
		id, level, size := t.llcOf(sys, dir, cpu)
		l := llcs[id]
		if l == nil {
			l = &LLC{ID: id, Level: level, SizeKiB: size}
			llcs[id] = l
		}
		l.CPUs = append(l.CPUs, cpu)
		core := cpu
		if v, err := readInt(sys, path.Join(dir, "topology/core_id")); err == nil {
			core = v
		}
		cores[[2]int{id, core}] = append(cores[[2]int{id, core}], cpu)
	}
	slices.Sort(t.CPUs)
	for _, l := range llcs {
		slices.Sort(l.CPUs)
		if len(l.CPUs) > 0 {
			l.Node = cpuNode[l.CPUs[0]]
		}
	}
	for k, cpus := range cores {
		l := llcs[k[0]]
		slices.Sort(cpus)
		l.Cores = append(l.Cores, Core{ID: k[1], CPUs: cpus})
	}
	for _, id := range sortedKeys(llcs) {
		l := llcs[id]
		slices.SortFunc(l.Cores, func(a, b Core) int { return a.ID - b.ID })
		t.LLCs = append(t.LLCs, *l)
	}
	t.readNodes(sys, cpuNode)
	return t, nil
}

func (t *Topology) warn(format string, args ...any) {
	t.Warnings = append(t.Warnings, fmt.Sprintf(format, args...))
}

// nodeOf returns the node of the first nodeN entry in a CPU's directory.
func (t *Topology) nodeOf(sys fs.FS, dir string, cpu int) int {
	ents, err := fs.ReadDir(sys, dir)
	if err == nil {
		for _, e := range ents {
			if n, ok := strings.CutPrefix(e.Name(), "node"); ok {
				if id, err := strconv.Atoi(n); err == nil {
					return id
				}
			}
		}
	}
	t.warn("CPU %d: no node entry in %s; assuming node 0", cpu, dir)
	return 0
}

// llcOf finds the CPU's last-level cache: the cache index with the highest
// level. A CPU without cache information (some VMs) joins LLC 0, so a
// machine without any has one LLC holding every CPU.
func (t *Topology) llcOf(sys fs.FS, dir string, cpu int) (id, level int, sizeKiB uint64) {
	ents, _ := fs.ReadDir(sys, path.Join(dir, "cache"))
	best := ""
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "index") {
			continue
		}
		lv, err := readInt(sys, path.Join(dir, "cache", e.Name(), "level"))
		if err == nil && lv > level {
			level, best = lv, path.Join(dir, "cache", e.Name())
		}
	}
	if best == "" {
		t.warn("CPU %d: no cache information in %s/cache; assuming LLC 0", cpu, dir)
		return 0, 0, 0
	}
	if v, err := readInt(sys, path.Join(best, "id")); err == nil {
		id = v
	} else if shared, err := readCPUList(sys, path.Join(best, "shared_cpu_list")); err == nil && len(shared) > 0 {
		id = slices.Min(shared)
	} else {
		t.warn("CPU %d: %s has neither id nor shared_cpu_list; assuming LLC 0", cpu, best)
	}
	if s, err := readString(sys, path.Join(best, "size")); err == nil {
		sizeKiB = parseCacheSize(s)
	}
	return id, level, sizeKiB
}

// parseCacheSize reads "32768K", "32M" or a byte count, in KiB.
func parseCacheSize(s string) uint64 {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		s = strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		s, mult = strings.TrimSuffix(s, "M"), 1024
	default:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0
		}
		return (v + 1023) / 1024
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return v * mult
}

// readNodes fills Nodes from /sys/devices/system/node (which also lists
// memory-only nodes) and the nodes the CPUs named.
func (t *Topology) readNodes(sys fs.FS, cpuNode map[int]int) {
	nodes := map[int]*Node{}
	get := func(id int) *Node {
		if nodes[id] == nil {
			nodes[id] = &Node{ID: id}
		}
		return nodes[id]
	}
	if ents, err := fs.ReadDir(sys, nodeDir); err == nil {
		for _, e := range ents {
			s, ok := strings.CutPrefix(e.Name(), "node")
			id, err := strconv.Atoi(s)
			if !ok || err != nil {
				continue
			}
			n := get(id)
			dir := path.Join(nodeDir, e.Name())
			if cpus, err := readCPUList(sys, path.Join(dir, "cpulist")); err == nil {
				for _, c := range cpus {
					if slices.Contains(t.CPUs, c) {
						n.CPUs = append(n.CPUs, c)
					}
				}
			}
			n.MemTotalKiB, n.MemFreeKiB = readNodeMeminfo(sys, path.Join(dir, "meminfo"))
			if s, err := readString(sys, path.Join(dir, "distance")); err == nil {
				for _, f := range strings.Fields(s) {
					if d, err := strconv.Atoi(f); err == nil {
						n.Distances = append(n.Distances, d)
					}
				}
			}
		}
	}
	for _, c := range t.CPUs {
		n := get(cpuNode[c])
		if !slices.Contains(n.CPUs, c) {
			n.CPUs = append(n.CPUs, c)
		}
	}
	ids := sortedKeys(nodes)
	complete := true
	for _, id := range ids {
		n := nodes[id]
		slices.Sort(n.CPUs)
		complete = complete && len(n.Distances) == len(ids)
		t.Nodes = append(t.Nodes, *n)
	}
	if !complete {
		// A missing or short row makes the matrix unreliable: use the
		// kernel's defaults for every pair.
		for i := range t.Nodes {
			t.Nodes[i].Distances = make([]int, len(ids))
			for j := range ids {
				t.Nodes[i].Distances[j] = 20
			}
			t.Nodes[i].Distances[i] = 10
		}
	}
}

// readNodeMeminfo reads MemTotal and MemFree ("Node 0 MemTotal: 4155612 kB").
func readNodeMeminfo(sys fs.FS, name string) (total, free uint64) {
	b, err := fs.ReadFile(sys, name)
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		v, _ := strconv.ParseUint(f[3], 10, 64)
		switch f[2] {
		case "MemTotal:":
			total = v
		case "MemFree:":
			free = v
		}
	}
	return total, free
}

func readString(sys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(sys, name)
	return strings.TrimSpace(string(b)), err
}

func readInt(sys fs.FS, name string) (int, error) {
	s, err := readString(sys, name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

func readCPUList(sys fs.FS, name string) ([]int, error) {
	s, err := readString(sys, name)
	if err != nil {
		return nil, err
	}
	cpus, err := cpulist.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	slices.Sort(cpus)
	return cpus, nil
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Synthetic spreads n CPUs evenly over k LLCs on one node, each
// CPU its own core (no SMT), for tests and dry runs.
func Synthetic(n, k int) *Topology {
	t := &Topology{Nodes: []Node{{ID: 0, Distances: []int{10}}}}
	k = max(min(k, n), 1)
	for c := range n {
		t.CPUs = append(t.CPUs, c)
	}
	t.Nodes[0].CPUs = slices.Clone(t.CPUs)
	for i := range k {
		l := LLC{ID: i, Level: 3}
		for c := i * n / k; c < (i+1)*n/k; c++ {
			l.CPUs = append(l.CPUs, c)
			l.Cores = append(l.Cores, Core{ID: c, CPUs: []int{c}})
		}
		t.LLCs = append(t.LLCs, l)
	}
	return t
}

// UsableCPUs are the CPUs scenarios spread work over: every CPU except the
// highest-numbered one when there are more than two (it is left to the
// root cgroup and the test harness), else all of them.
func (t *Topology) UsableCPUs() []int {
	if len(t.CPUs) > 2 {
		return slices.Clone(t.CPUs[:len(t.CPUs)-1])
	}
	return slices.Clone(t.CPUs)
}

// LLCCPUs returns the CPUs of the i-th LLC (in LLC order), nil if there is
// no such LLC.
func (t *Topology) LLCCPUs(i int) []int {
	if i < 0 || i >= len(t.LLCs) {
		return nil
	}
	return slices.Clone(t.LLCs[i].CPUs)
}

// NodeCPUs returns the union of the CPUs of every LLC on NUMA node n.
func (t *Topology) NodeCPUs(n int) []int {
	var out []int
	for _, l := range t.LLCs {
		if l.Node == n {
			out = append(out, l.CPUs...)
		}
	}
	slices.Sort(out)
	return out
}

// NodesFor returns the NUMA nodes of every LLC that has a CPU in cpus.
func (t *Topology) NodesFor(cpus []int) []int {
	var out []int
	for _, l := range t.LLCs {
		if !slices.Contains(out, l.Node) && slices.ContainsFunc(l.CPUs, func(c int) bool { return slices.Contains(cpus, c) }) {
			out = append(out, l.Node)
		}
	}
	slices.Sort(out)
	return out
}

// MemoryOnlyNodes returns the ids of nodes with no CPUs.
func (t *Topology) MemoryOnlyNodes() []int {
	var out []int
	for _, n := range t.Nodes {
		if n.MemoryOnly() {
			out = append(out, n.ID)
		}
	}
	return out
}

// Distance returns the SLIT distance between nodes a and b, 255 when
// either is unknown.
func (t *Topology) Distance(a, b int) int {
	ia := slices.IndexFunc(t.Nodes, func(n Node) bool { return n.ID == a })
	ib := slices.IndexFunc(t.Nodes, func(n Node) bool { return n.ID == b })
	if ia < 0 || ib < 0 || ib >= len(t.Nodes[ia].Distances) {
		return 255
	}
	return t.Nodes[ia].Distances[ib]
}

// SMTSiblings returns the CPUs of every core that has more than one
// hardware thread, in LLC then core order. It is empty when SMT is off.
func (t *Topology) SMTSiblings() [][]int {
	var out [][]int
	for _, l := range t.LLCs {
		for _, c := range l.Cores {
			if len(c.CPUs) > 1 {
				out = append(out, slices.Clone(c.CPUs))
			}
		}
	}
	return out
}
