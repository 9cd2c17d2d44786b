package starlib

import (
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// MemPolicyModule is the Starlark module `mempolicy`: NUMA memory
// policies for workload(mem_policy = ...), set by every worker for itself
// (set_mempolicy) right after its scheduling policy.
//
//	def default() -> mem_policy          no call: inherit (the default)
//	def local() -> mem_policy            MPOL_LOCAL
//	def bind(nodes, **flags)             MPOL_BIND
//	def interleave(nodes, **flags)       MPOL_INTERLEAVE
//	def preferred(node, **flags)         MPOL_PREFERRED
//	def preferred_many(nodes, **flags)   MPOL_PREFERRED_MANY (Linux 5.15+)
//	def weighted_interleave(nodes, **flags)  MPOL_WEIGHTED_INTERLEAVE (6.9+)
//
// nodes is a list of node ids or a list string ("0-1"); the flags are
// static_nodes, relative_nodes and numa_balancing (bools). Nodes are
// checked when the workload is built; that they are online, and inside
// the mems of the cgroup it is spawned in (unless static_nodes or
// relative_nodes), is checked at spawn.
var MemPolicyModule = builtinModule("mempolicy", map[string]builtinFunc{
	"default":             memBuiltin(workload.MemDefault),
	"local":               memBuiltin(workload.MemLocal),
	"bind":                memBuiltin(workload.MemBind),
	"interleave":          memBuiltin(workload.MemInterleave),
	"preferred":           memBuiltin(workload.MemPreferred),
	"preferred_many":      memBuiltin(workload.MemPreferredMany),
	"weighted_interleave": memBuiltin(workload.MemWeightedInterleave),
})

func memBuiltin(mode workload.MemMode) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		p := workload.MemPolicy{Mode: mode}
		if mode == workload.MemDefault || mode == workload.MemLocal {
			if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
				return nil, err
			}
			if mode == workload.MemDefault {
				p.Mode = 0
			}
			return MemPolicyValue{P: p}, nil
		}
		var (
			nodes                  cpuListParam
			node                   = -1
			static, rel, balancing bool
		)
		flags := []any{"static_nodes?", &static, "relative_nodes?", &rel, "numa_balancing?", &balancing}
		var err error
		if mode == workload.MemPreferred {
			err = starlark.UnpackArgs(b.Name(), args, kwargs, append([]any{"node", &node}, flags...)...)
			nodes = cpuListParam{node}
		} else {
			err = starlark.UnpackArgs(b.Name(), args, kwargs, append([]any{"nodes", &nodes}, flags...)...)
		}
		if err != nil {
			return nil, err
		}
		p.Nodes = nodes
		for _, f := range []struct {
			on  bool
			bit int
		}{{static, workload.MpolStaticNodes}, {rel, workload.MpolRelativeNodes}, {balancing, workload.MpolNumaBalancing}} {
			if f.on {
				p.Flags |= f.bit
			}
		}
		return MemPolicyValue{P: p}, nil
	}
}

// MemPolicyValue is the Starlark value of a memory policy.
type MemPolicyValue struct {
	immutable
	P workload.MemPolicy
}

// String renders the constructor call, e.g. `mempolicy.bind("1")`.
func (p MemPolicyValue) String() string { return "mempolicy." + p.P.String() }

// Type returns "mem_policy".
func (p MemPolicyValue) Type() string { return "mem_policy" }

// Hash hashes the rendered value.
func (p MemPolicyValue) Hash() (uint32, error) { return starlark.String(p.String()).Hash() }

// CompareSameType compares policies for equality.
func (p MemPolicyValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareStrings(p, op, y)
}
