package vm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Preset is a named guest shape: NUMA nodes, LLCs in all, cores per LLC
// and threads per core, written as ktstr writes its topologies
// ("1n2l2c1t": one node, two LLCs of two cores, one thread per core).
// `ktstar vm --preset` and `ktstar gauntlet --preset` read the same list.
type Preset struct {
	Name    string
	Nodes   int // NUMA nodes
	LLCs    int // last-level caches in all, a multiple of Nodes
	Cores   int // cores per LLC
	Threads int // hardware threads per core
	Doc     string
}

// presets are ktstr's gauntlet shapes (its gauntlet_presets()), smallest
// first within each family.
var presets = []Preset{
	{"tiny-1llc", 1, 1, 4, 1, "single LLC"},
	{"tiny-2llc", 1, 2, 2, 1, "minimal multi-LLC"},
	{"odd-3llc", 1, 3, 3, 1, "odd CPU count"},
	{"odd-5llc", 1, 5, 3, 1, "prime LLC count"},
	{"odd-7llc", 1, 7, 2, 1, "prime LLC count"},
	{"smt-2llc", 1, 2, 2, 2, "SMT enabled"},
	{"smt-3llc", 1, 3, 2, 2, "SMT, 3 LLCs"},
	{"medium-4llc", 1, 4, 4, 2, "medium"},
	{"medium-8llc", 1, 8, 4, 2, "medium, many LLCs"},
	{"large-4llc", 1, 4, 16, 2, "large, few LLCs"},
	{"large-8llc", 1, 8, 8, 2, "large, many LLCs"},
	{"near-max-llc", 1, 15, 8, 2, "near the maximum"},
	{"max-cpu", 1, 14, 9, 2, "near the KVM vCPU limit"},
	{"medium-4llc-nosmt", 1, 4, 8, 1, "medium, no SMT"},
	{"medium-8llc-nosmt", 1, 8, 8, 1, "medium, many LLCs, no SMT"},
	{"large-4llc-nosmt", 1, 4, 32, 1, "large, no SMT"},
	{"large-8llc-nosmt", 1, 8, 16, 1, "large, many LLCs, no SMT"},
	{"near-max-llc-nosmt", 1, 15, 16, 1, "near the maximum, no SMT"},
	{"max-cpu-nosmt", 1, 14, 18, 1, "near the KVM vCPU limit, no SMT"},
	{"numa2-4llc", 2, 4, 4, 1, "2 NUMA nodes"},
	{"numa2-8llc", 2, 8, 8, 2, "2 NUMA nodes, SMT"},
	{"numa2-8llc-nosmt", 2, 8, 16, 1, "2 NUMA nodes, no SMT"},
	{"numa4-8llc", 4, 8, 4, 1, "4 NUMA nodes"},
	{"numa4-12llc", 4, 12, 8, 2, "4 NUMA nodes, SMT"},
}

// Presets returns every named preset, in ktstr's order.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// CPUs is the preset's vCPU count.
func (p Preset) CPUs() int { return p.LLCs * p.Cores * p.Threads }

// Shape is the preset written as ktstr writes topologies, e.g. "1n2l2c1t".
func (p Preset) Shape() string {
	return fmt.Sprintf("%dn%dl%dc%dt", p.Nodes, p.LLCs, p.Cores, p.Threads)
}

// Label names the preset in results: its name, or its shape when it has none.
func (p Preset) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Shape()
}

// Memory is the guest RAM the preset asks for: DefaultMemory, or 64 MiB
// per vCPU when that is more (as ktstr sizes its guests).
func (p Preset) Memory() int64 {
	return max(DefaultMemory, int64(p.CPUs())<<26)
}

// Apply sets o's CPUs, NUMA, LLCs and SMT to the preset's shape, and its
// Memory when o gives none.
func (p Preset) Apply(o *Options) {
	o.CPUs, o.Nodes, o.SMT = p.CPUs(), nil, p.Threads
	o.NUMA, o.LLCs = p.Nodes, p.LLCs/p.Nodes
	if o.Memory == 0 {
		o.Memory = p.Memory()
	}
}

var shapeRE = regexp.MustCompile(`^(\d+)n(\d+)l(\d+)c(\d+)t$`)

// ParsePreset reads a preset's name ("tiny-2llc") or a shape written
// NnLlCcTt ("1n2l2c1t": nodes, LLCs in all, cores per LLC, threads per
// core).
func ParsePreset(s string) (Preset, error) {
	for _, p := range presets {
		if p.Name == s {
			return p, nil
		}
	}
	m := shapeRE.FindStringSubmatch(s)
	if m == nil {
		names := make([]string, len(presets))
		for i, p := range presets {
			names[i] = p.Name
		}
		return Preset{}, fmt.Errorf("preset %q: want a name (%s) or a shape NnLlCcTt such as 1n2l2c1t", s, strings.Join(names, ", "))
	}
	var n [4]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v < 1 || v > maxCPUs {
			return Preset{}, fmt.Errorf("preset %q: nodes, LLCs, cores and threads must each be 1..%d", s, maxCPUs)
		}
		n[i] = v
	}
	p := Preset{Nodes: n[0], LLCs: n[1], Cores: n[2], Threads: n[3]}
	switch {
	case p.LLCs%p.Nodes != 0:
		return Preset{}, fmt.Errorf("preset %q: %d LLCs do not split evenly over %d nodes", s, p.LLCs, p.Nodes)
	case p.Threads > maxSMT:
		return Preset{}, fmt.Errorf("preset %q: %d threads per core: want 1..%d", s, p.Threads, maxSMT)
	case p.CPUs() > maxCPUs:
		return Preset{}, fmt.Errorf("preset %q: %d CPUs: want at most %d", s, p.CPUs(), maxCPUs)
	}
	return p, nil
}
