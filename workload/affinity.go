package workload

import (
	"slices"

	"github.com/ktstar/ktstar/topo"
)

// SingleCPU pins every worker to the lowest CPU of its cgroup's pool
// (scenario only).
func SingleCPU() Affinity { return Affinity{Kind: AffinitySingleCPU} }

// LLCAligned pins every worker to the CPUs of the LLC that overlaps its
// cgroup's pool most (scenario only).
func LLCAligned() Affinity { return Affinity{Kind: AffinityLLCAligned} }

// CrossCgroup gives every worker all CPUs, leaving the kernel to narrow
// the mask to the cgroup's cpuset (scenario only).
func CrossCgroup() Affinity { return Affinity{Kind: AffinityCrossCgroup} }

// SMTSiblingPair pins every worker to the same two SMT siblings of one
// core inside its cgroup's pool (scenario only).
func SMTSiblingPair() Affinity { return Affinity{Kind: AffinitySMTSiblingPair} }

// ResolveAffinity turns an intent into one a plain spawn accepts (Inherit,
// Exact or RandomSubset) for workers of a cgroup, given the machine's
// topology and the cgroup's cpuset. cpuset nil means the cgroup has no
// cpuset; a non-nil empty slice is an empty cpuset. The pool is the cpuset
// if there is one, else every CPU of the topology.
//
// Rules (runtime.md §2.3, then §2.4's conversion back to a spawn intent):
//
//	inherit()            inherit()
//	exact(s)             exact(s ∩ cpuset), or exact(s) without a cpuset
//	random_subset(f, n)  random_subset(f ∩ cpuset, min(n, |f ∩ cpuset|)); drawn per worker
//	single_cpu()         exact(lowest CPU of the pool)
//	llc_aligned()        exact(LLC ∩ pool) for the LLC overlapping the pool most (first wins ties)
//	cross_cgroup()       exact(all CPUs)
//	smt_sibling_pair()   exact(a, b): the two lowest siblings in the pool of the
//	                     first core (LLC order, then core id) that has two
//
// Every case that cannot be satisfied is an error naming the intent and the
// cpuset and suggesting a fix; none falls back silently to inherit().
func ResolveAffinity(a Affinity, tp *topo.Topology, cpuset []int) (Affinity, error) {
	pool := tp.CPUs
	if cpuset != nil {
		pool = sortedSet(cpuset)
	}
	switch a.Kind {
	case AffinityInherit:
		return Inherit(), nil
	case AffinityCrossCgroup:
		return Exact(slices.Clone(tp.CPUs)...), nil
	case AffinityExact:
		if len(a.CPUs) == 0 {
			return Affinity{}, invalid("affinity %s: the CPU list is empty, which sched_setaffinity rejects with EINVAL; list CPUs or use inherit()", a)
		}
		if cpuset == nil {
			return Exact(sortedSet(a.CPUs)...), nil
		}
		s := intersect(a.CPUs, pool)
		if len(s) == 0 {
			return Affinity{}, invalid("affinity %s: none of these CPUs is in the cgroup's %s; choose CPUs inside it, widen the cpuset, or use inherit()", a, describeCpuset(cpuset))
		}
		return Exact(s...), nil
	case AffinityRandomSubset:
		if a.Count < 1 {
			return Affinity{}, invalid("affinity %s: count = %d draws no CPUs; use a count of at least 1, or inherit()", a, a.Count)
		}
		from := sortedSet(a.CPUs)
		if cpuset != nil {
			from = intersect(from, pool)
		}
		if len(from) == 0 {
			if cpuset == nil || len(a.CPUs) == 0 {
				return Affinity{}, invalid("affinity %s: the CPU list to draw from is empty (%s); list CPUs or use inherit()", a, describeCpuset(cpuset))
			}
			return Affinity{}, invalid("affinity %s: none of these CPUs is in the cgroup's %s; draw from CPUs inside it, widen the cpuset, or use inherit()", a, describeCpuset(cpuset))
		}
		return RandomSubset(from, min(a.Count, len(from))), nil
	case AffinitySingleCPU:
		if len(pool) == 0 {
			return Affinity{}, invalid("affinity %s: no CPU to pick from the cgroup's %s; widen the cpuset or use inherit()", a, describeCpuset(cpuset))
		}
		return Exact(pool[0]), nil
	case AffinityLLCAligned:
		var best []int
		for _, l := range tp.LLCs {
			if s := intersect(l.CPUs, pool); len(s) > len(best) {
				best = s
			}
		}
		if len(best) == 0 {
			return Affinity{}, invalid("affinity %s: no LLC has a CPU in the cgroup's %s; widen the cpuset or use inherit()", a, describeCpuset(cpuset))
		}
		return Exact(best...), nil
	case AffinitySMTSiblingPair:
		for _, l := range tp.LLCs {
			for _, c := range l.Cores {
				if s := intersect(c.CPUs, pool); len(s) >= 2 {
					return Exact(s[0], s[1]), nil
				}
			}
		}
		why := "SMT is off, the cpuset splits every core's siblings, or sysfs has no per-core data"
		if len(tp.SMTSiblings()) == 0 {
			why = "this machine has no SMT siblings (SMT off or not supported)"
		}
		return Affinity{}, invalid("affinity %s: no core has two SMT siblings in the cgroup's %s: %s; widen the cpuset to hold both threads of a core, or use inherit()", a, describeCpuset(cpuset), why)
	}
	return Affinity{}, invalid("affinity kind %d is unknown", int(a.Kind))
}

// describeCpuset renders a cgroup's cpuset for error messages.
func describeCpuset(cpuset []int) string {
	switch {
	case cpuset == nil:
		return "<no cpuset>"
	case len(cpuset) == 0:
		return "empty cpuset {}"
	}
	return "cpuset {" + FormatCPUList(cpuset) + "}"
}

// sortedSet returns cpus sorted without duplicates, never nil.
func sortedSet(cpus []int) []int {
	s := append([]int{}, cpus...)
	slices.Sort(s)
	return slices.Compact(s)
}

// intersect returns the sorted CPUs in both a and b, never nil.
func intersect(a, b []int) []int {
	out := []int{}
	for _, c := range sortedSet(a) {
		if slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	return out
}

// TopologyAware reports whether the intent is one of the scenario-only
// kinds (SingleCPU, LLCAligned, CrossCgroup, SMTSiblingPair), which only
// ResolveAffinity can turn into a mask.
func (a Affinity) TopologyAware() bool {
	switch a.Kind {
	case AffinitySingleCPU, AffinityLLCAligned, AffinityCrossCgroup, AffinitySMTSiblingPair:
		return true
	}
	return false
}

// Draw returns one worker's CPUs for a spawn intent: Exact's set, a fresh
// independent draw for RandomSubset, nil (keep the mask) for Inherit. It
// is what Spawn does per worker, for callers that re-pin running workers.
func (a Affinity) Draw() []int { return drawCPUs(a) }
