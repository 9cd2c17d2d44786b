package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/cpulist"
	"github.com/ktstar/ktstar/topo"
)

// MemMode is a set_mempolicy mode; the values are the kernel's MPOL_*.
type MemMode int

// Memory policy modes (runtime.md §3.3).
const (
	MemDefault            MemMode = -1 // no call: inherit the spawner's policy
	MemPreferred          MemMode = 1
	MemBind               MemMode = 2
	MemInterleave         MemMode = 3
	MemLocal              MemMode = 4
	MemPreferredMany      MemMode = 5 // Linux 5.15+
	MemWeightedInterleave MemMode = 6 // Linux 6.9+
)

// Mode flags OR-ed into the mode.
const (
	MpolStaticNodes   = 1 << 15
	MpolRelativeNodes = 1 << 14
	MpolNumaBalancing = 1 << 13
	mpolKnownFlags    = MpolStaticNodes | MpolRelativeNodes | MpolNumaBalancing
)

var memModeNames = map[MemMode]string{
	MemPreferred: "preferred", MemBind: "bind", MemInterleave: "interleave", MemLocal: "local",
	MemPreferredMany: "preferred_many", MemWeightedInterleave: "weighted_interleave",
}

// MemPolicy is the NUMA memory policy every worker sets for itself with
// set_mempolicy in its prologue. The zero value is MemDefault's: no call.
type MemPolicy struct {
	Mode  MemMode `json:"mode,omitempty"` // 0 and MemDefault: no policy
	Nodes []int   `json:"nodes,omitempty"`
	Flags int     `json:"flags,omitempty"` // Mpol* flags
}

// set reports whether the policy asks for a set_mempolicy call.
func (p MemPolicy) set() bool { return p.Mode > 0 }

// String renders the policy as its script constructor.
func (p MemPolicy) String() string {
	if !p.set() {
		return "default()"
	}
	var args []string
	switch {
	case p.Mode == MemPreferred && len(p.Nodes) == 1:
		args = append(args, fmt.Sprint(p.Nodes[0]))
	case p.Mode != MemLocal:
		args = append(args, fmt.Sprintf("%q", cpulist.Format(p.Nodes)))
	}
	for _, f := range []struct {
		bit  int
		name string
	}{{MpolStaticNodes, "static_nodes"}, {MpolRelativeNodes, "relative_nodes"}, {MpolNumaBalancing, "numa_balancing"}} {
		if p.Flags&f.bit != 0 {
			args = append(args, f.name+" = True")
		}
	}
	return fmt.Sprintf("%s(%s)", memModeNames[p.Mode], strings.Join(args, ", "))
}

// validate checks the policy on its own (runtime.md §3.3, §3.4 rules 1–2).
func (p MemPolicy) validate() error {
	if !p.set() {
		if len(p.Nodes) > 0 || p.Flags != 0 {
			return invalid("mem_policy: nodes and flags need a mode")
		}
		return nil
	}
	if _, ok := memModeNames[p.Mode]; !ok {
		return invalid("mem_policy mode %d is unknown (allowed: 1..6, MPOL_PREFERRED..MPOL_WEIGHTED_INTERLEAVE)", int(p.Mode))
	}
	if bad := p.Flags &^ mpolKnownFlags; bad != 0 {
		return invalid("mem_policy %s: unknown flag bits %#x (known: static_nodes %#x, relative_nodes %#x, numa_balancing %#x)", p, bad, MpolStaticNodes, MpolRelativeNodes, MpolNumaBalancing)
	}
	if p.Flags&MpolStaticNodes != 0 && p.Flags&MpolRelativeNodes != 0 {
		return invalid("mem_policy %s: static_nodes and relative_nodes exclude each other (the kernel rejects the pair)", p)
	}
	switch {
	case p.Mode == MemLocal && len(p.Nodes) > 0:
		return invalid("mem_policy %s: local takes no nodes", p)
	case p.Mode == MemPreferred && len(p.Nodes) != 1:
		return invalid("mem_policy %s: preferred takes exactly one node, got %d", p, len(p.Nodes))
	case p.Mode != MemLocal && len(p.Nodes) == 0:
		return invalid("mem_policy %s: at least one NUMA node is required (e.g. %s([0]), or local())", p, memModeNames[p.Mode])
	}
	for _, n := range p.Nodes {
		if n < 0 || n >= 1024 {
			return invalid("mem_policy %s: node %d is out of range (allowed: 0..1023)", p, n)
		}
	}
	return nil
}

// preflight checks the policy against the machine before anything forks:
// its nodes are online and, in a cgroup, among the group's effective mems
// (relative_nodes names ordinals, static_nodes declares the placement
// intentional, so neither is held to the mems).
func (p MemPolicy) preflight(cg Cgroup) error {
	if !p.set() || p.Flags&MpolRelativeNodes != 0 {
		return nil
	}
	online, err := topo.OnlineNodes()
	if err != nil {
		return err
	}
	for _, n := range p.Nodes {
		if !slices.Contains(online, n) {
			return invalid("mem_policy %s: node %d is not online (online nodes: %s)", p, n, cpulist.Format(online))
		}
	}
	if p.Flags&MpolStaticNodes != 0 || cg == nil {
		return nil
	}
	dir, ok := cg.(interface{ Path() string })
	if !ok {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir.Path(), "cpuset.mems.effective"))
	if err != nil {
		return nil // no cpuset controller in the group: every node is allowed
	}
	mems, err := cpulist.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("cgroup %s: cpuset.mems.effective: %w", cg.Group(), err)
	}
	var outside []int
	for _, n := range p.Nodes {
		if !slices.Contains(mems, n) {
			outside = append(outside, n)
		}
	}
	if len(outside) > 0 {
		return invalid("mem_policy %s: node(s) %s are outside cgroup %s's mems %s: add static_nodes = True to place memory there on purpose, or widen the group's cpuset.mems",
			p, cpulist.Format(outside), cg.Group(), cpulist.Format(mems))
	}
	return nil
}

// applyMemPolicy sets the calling thread's memory policy.
func applyMemPolicy(p MemPolicy) error {
	if !p.set() {
		return nil
	}
	m := newNodeMask(p.Nodes...)
	var mask uintptr
	if len(p.Nodes) > 0 {
		mask = uintptr(unsafe.Pointer(&m.bits[0]))
	}
	if _, _, e := unix.Syscall(unix.SYS_SET_MEMPOLICY, uintptr(int(p.Mode)|p.Flags), mask, uintptr(m.maxnode)); e != 0 {
		return fmt.Errorf("set_mempolicy(%s): %w", p, e)
	}
	return nil
}

// newNodeMask builds the kernel's node mask for nodes; maxnode is one
// more than the kernel reads, as it decrements it first (0 for none).
func newNodeMask(nodes ...int) nodeMask {
	var m nodeMask
	for _, n := range nodes {
		m.bits[n/64] |= 1 << (n % 64)
		m.maxnode = max(m.maxnode, uint64(n)+2)
	}
	return m
}
