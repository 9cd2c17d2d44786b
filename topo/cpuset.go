package topo

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ktstar/ktstar/internal/cpulist"
)

// ErrInvalid is wrapped by every error of a spec the topology cannot
// satisfy, so callers can tell a bad request from a failure of the
// machine. workload.ErrInvalidConfig is the same value: a spec is part of
// a workload's config, and callers test one sentinel.
var ErrInvalid = errors.New("invalid workload config")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// sortedSet returns cpus sorted without duplicates, never nil.
func sortedSet(cpus []int) []int {
	s := append([]int{}, cpus...)
	slices.Sort(s)
	return slices.Compact(s)
}

// CpusetKind selects how a CpusetSpec picks CPUs.
type CpusetKind int

// CpusetSpec kinds (runtime.md §7.2).
const (
	CpusetLLC      CpusetKind = iota // every CPU of one LLC
	CpusetNuma                       // every CPU of the LLCs on one NUMA node
	CpusetRange                      // a fractional slice of the usable CPUs
	CpusetDisjoint                   // one of Of equal partitions of the usable CPUs
	CpusetOverlap                    // a partition widened by Frac of a chunk on each side
	CpusetExact                      // the CPUs as given
)

// CpusetSpec describes a cgroup's cpuset relative to the topology, so one
// scenario fits machines of any size. The fractional kinds index the
// usable CPUs (Topology.UsableCPUs, sorted). Build it with the CpusLLC …
// CpusExact constructors.
type CpusetSpec struct {
	Kind       CpusetKind
	Index      int     // LLC index (LLC order), node id, or partition index
	Of         int     // number of partitions (Disjoint, Overlap)
	Start, End float64 // fractions of the usable CPUs in [0, 1] (Range)
	Frac       float64 // overlap as a fraction of a chunk in [0, 1] (Overlap)
	CPUs       []int   // Exact
}

// CpusLLC is every CPU of the i-th LLC, including the CPU UsableCPUs
// keeps back.
func CpusLLC(i int) CpusetSpec { return CpusetSpec{Kind: CpusetLLC, Index: i} }

// CpusNuma is every CPU of the LLCs on NUMA node n.
func CpusNuma(n int) CpusetSpec { return CpusetSpec{Kind: CpusetNuma, Index: n} }

// CpusRange is usable[floor(len·start) .. floor(len·end)).
func CpusRange(start, end float64) CpusetSpec {
	return CpusetSpec{Kind: CpusetRange, Start: start, End: end}
}

// CpusDisjoint is partition index of of equal partitions of the usable
// CPUs; the last partition takes the remainder.
func CpusDisjoint(index, of int) CpusetSpec {
	return CpusetSpec{Kind: CpusetDisjoint, Index: index, Of: of}
}

// CpusOverlap is partition index of of, extended by frac of a chunk into
// each neighbour, so adjacent partitions share CPUs.
func CpusOverlap(index, of int, frac float64) CpusetSpec {
	return CpusetSpec{Kind: CpusetOverlap, Index: index, Of: of, Frac: frac}
}

// CpusExact is exactly the given CPUs.
func CpusExact(cpus ...int) CpusetSpec { return CpusetSpec{Kind: CpusetExact, CPUs: cpus} }

// String renders the spec as its script constructor.
func (s CpusetSpec) String() string {
	switch s.Kind {
	case CpusetLLC:
		return fmt.Sprintf("llc(%d)", s.Index)
	case CpusetNuma:
		return fmt.Sprintf("numa(%d)", s.Index)
	case CpusetRange:
		return fmt.Sprintf("range(%g, %g)", s.Start, s.End)
	case CpusetDisjoint:
		return fmt.Sprintf("disjoint(%d, %d)", s.Index, s.Of)
	case CpusetOverlap:
		return fmt.Sprintf("overlap(%d, %d, %g)", s.Index, s.Of, s.Frac)
	case CpusetExact:
		return fmt.Sprintf("exact(%s)", cpulist.Format(s.CPUs))
	}
	return fmt.Sprintf("cpuset kind %d", int(s.Kind))
}

// Validate checks the spec against the topology. Passing does not promise
// a non-empty result (range(0, 0.1) of 7 CPUs is empty); Resolve's caller
// checks that, since what to say depends on what the set is for.
func (s CpusetSpec) Validate(t *Topology) error {
	n := len(t.UsableCPUs())
	unit := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1 {
			return invalid("cpuset %s: %s = %g is out of range (allowed: a fraction in 0..1)", s, name, v)
		}
		return nil
	}
	switch s.Kind {
	case CpusetLLC:
		if s.Index < 0 || s.Index >= len(t.LLCs) {
			return invalid("cpuset %s: LLC index %d does not exist (this machine has %d LLCs: allowed 0..%d)", s, s.Index, len(t.LLCs), len(t.LLCs)-1)
		}
	case CpusetNuma:
		i := slices.IndexFunc(t.Nodes, func(nd Node) bool { return nd.ID == s.Index })
		if i < 0 {
			ids := make([]int, len(t.Nodes))
			for j, nd := range t.Nodes {
				ids[j] = nd.ID
			}
			return invalid("cpuset %s: NUMA node %d does not exist (nodes: %s)", s, s.Index, cpulist.Format(ids))
		}
		if len(t.NodeCPUs(s.Index)) == 0 {
			return invalid("cpuset %s: NUMA node %d has memory but no CPUs; use it for cpuset.mems, not cpuset.cpus", s, s.Index)
		}
	case CpusetRange:
		if err := unit("start", s.Start); err != nil {
			return err
		}
		if err := unit("end", s.End); err != nil {
			return err
		}
		if s.Start >= s.End {
			return invalid("cpuset %s: start = %g must be below end = %g", s, s.Start, s.End)
		}
	case CpusetDisjoint, CpusetOverlap:
		if s.Of < 1 {
			return invalid("cpuset %s: of = %d partitions (allowed: at least 1)", s, s.Of)
		}
		if s.Index < 0 || s.Index >= s.Of {
			return invalid("cpuset %s: index = %d is out of range (allowed: 0..%d)", s, s.Index, s.Of-1)
		}
		if n < s.Of {
			return invalid("cpuset %s: %d partitions but only %d usable CPUs (%s); use at most %d partitions", s, s.Of, n, cpulist.Format(t.UsableCPUs()), n)
		}
		if s.Kind == CpusetOverlap {
			return unit("frac", s.Frac)
		}
	case CpusetExact:
		if len(s.CPUs) == 0 {
			return invalid("cpuset %s: the CPU list is empty; list CPUs, or clear the cpuset instead", s)
		}
		for _, c := range s.CPUs {
			if !slices.Contains(t.CPUs, c) {
				return invalid("cpuset %s: CPU %d does not exist on this machine (CPUs: %s)", s, c, cpulist.Format(t.CPUs))
			}
		}
	default:
		return invalid("cpuset kind %d is unknown", int(s.Kind))
	}
	return nil
}

// Resolve validates the spec and returns its CPUs, sorted. The set can be
// empty (see Validate).
func (s CpusetSpec) Resolve(t *Topology) ([]int, error) {
	if err := s.Validate(t); err != nil {
		return nil, err
	}
	return s.resolve(t), nil
}

// resolve computes the set with runtime.md §7.2's formulas. It never
// panics: out-of-range values clamp (Validate reports them).
func (s CpusetSpec) resolve(t *Topology) []int {
	usable := t.UsableCPUs()
	n := len(usable)
	clampFrac := func(v float64) float64 {
		if math.IsNaN(v) {
			return 0
		}
		return min(max(v, 0), 1)
	}
	slice := func(lo, hi int) []int {
		lo, hi = min(max(lo, 0), n), min(max(hi, 0), n)
		if lo >= hi {
			return []int{}
		}
		return slices.Clone(usable[lo:hi])
	}
	switch s.Kind {
	case CpusetLLC:
		if len(t.LLCs) == 0 {
			return []int{}
		}
		return t.LLCCPUs(min(max(s.Index, 0), len(t.LLCs)-1))
	case CpusetNuma:
		return sortedSet(t.NodeCPUs(s.Index))
	case CpusetRange:
		return slice(int(math.Floor(float64(n)*clampFrac(s.Start))), int(math.Floor(float64(n)*clampFrac(s.End))))
	case CpusetDisjoint, CpusetOverlap:
		if s.Of < 1 {
			return []int{}
		}
		idx := min(max(s.Index, 0), s.Of-1)
		chunk := n / s.Of
		ov := 0
		if s.Kind == CpusetOverlap {
			ov = int(math.Floor(float64(chunk) * clampFrac(s.Frac)))
		}
		lo, hi := idx*chunk-ov, (idx+1)*chunk+ov
		if idx == 0 {
			lo = 0
		}
		if idx == s.Of-1 {
			hi = n
		}
		return slice(lo, hi)
	case CpusetExact:
		return sortedSet(s.CPUs)
	}
	return []int{}
}
