package starlib

import (
	"fmt"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Affinity is the Starlark module `affinity`: CPU-mask intents for
// workload(affinity = ...). A CPU list is a list of ints or a kernel CPU
// list string such as "0-3,8".
//
//	def inherit() -> affinity
//	    keep the spawner's CPU mask (the default).
//	def exact(cpus) -> affinity
//	    pin every worker to exactly cpus.
//	def random_subset(cpus, n) -> affinity
//	    give each worker n CPUs drawn independently from cpus.
//
// and, resolved against the cgroup's cpuset when a workload is spawned
// into a cgroup (runtime.md §2.3; a plain spawn refuses them):
//
//	def single_cpu()        the lowest CPU of the cgroup's CPUs
//	def llc_aligned()       the cgroup's CPUs in the LLC that holds most of them
//	def cross_cgroup()      every CPU; the kernel narrows it to the cpuset
//	def smt_sibling_pair()  two SMT siblings of one core in the cgroup's CPUs
//
// The CPUs are checked against the online CPUs when the workload is built.
var Affinity = builtinModule("affinity", map[string]builtinFunc{
	"inherit":          affinityInherit,
	"exact":            affinityExact,
	"random_subset":    affinityRandomSubset,
	"single_cpu":       affinityConst(workload.SingleCPU()),
	"llc_aligned":      affinityConst(workload.LLCAligned()),
	"cross_cgroup":     affinityConst(workload.CrossCgroup()),
	"smt_sibling_pair": affinityConst(workload.SMTSiblingPair()),
})

// affinityConst is a constructor without parameters.
func affinityConst(a workload.Affinity) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		return AffinityValue{A: a}, nil
	}
}

func affinityInherit(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return AffinityValue{A: workload.Inherit()}, nil
}

func affinityExact(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cpus cpuListParam
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cpus", &cpus); err != nil {
		return nil, err
	}
	return AffinityValue{A: workload.Exact(cpus...)}, nil
}

func affinityRandomSubset(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cpus cpuListParam
	var n int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cpus", &cpus, "n", &n); err != nil {
		return nil, err
	}
	return AffinityValue{A: workload.RandomSubset(cpus, n)}, nil
}

// AffinityValue is the Starlark value of a CPU-mask intent.
type AffinityValue struct {
	immutable
	A workload.Affinity
}

// String renders the constructor call as a script writes it, e.g.
// `affinity.exact("0-1")`, so a printed value pastes back into a script.
func (a AffinityValue) String() string {
	switch a.A.Kind {
	case workload.AffinityExact:
		return fmt.Sprintf("affinity.exact(%q)", workload.FormatCPUList(a.A.CPUs))
	case workload.AffinityRandomSubset:
		return fmt.Sprintf("affinity.random_subset(%q, %d)", workload.FormatCPUList(a.A.CPUs), a.A.Count)
	}
	return "affinity." + a.A.String()
}

// Type returns "affinity".
func (a AffinityValue) Type() string { return "affinity" }

// Hash hashes the rendered value.
func (a AffinityValue) Hash() (uint32, error) { return starlark.String(a.String()).Hash() }

// CompareSameType compares affinity values for equality.
func (a AffinityValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(a, op, y)
}

// compareStrings implements == and != for values determined by their text.
func compareStrings(x starlark.Value, op syntax.Token, y starlark.Value) (bool, error) {
	switch op {
	case syntax.EQL:
		return x.String() == y.String(), nil
	case syntax.NEQ:
		return x.String() != y.String(), nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", x.Type(), op, y.Type())
}
