package starlib

import (
	"fmt"

	"github.com/ktstar/ktstar/topo"
	"go.starlark.net/starlark"
)

// topoModule is the Starlark module `topo`: this machine's CPU layout, as
// sysfs describes it, read once per run on first use.
//
//	topo.cpus           list of the online CPUs
//	topo.usable_cpus    the CPUs scenarios spread work over (all but the
//	                    highest when there are more than two)
//	topo.llcs           list of each last-level cache's CPUs, in LLC order
//	topo.numa_nodes     list of the NUMA node ids, memory-only nodes included
//	topo.node_cpus      dict node id -> its CPUs ([] for a memory-only node)
//	topo.smt_siblings   list of each SMT core's sibling CPUs; empty without SMT
//	def topo.cpuset(spec) -> list   the CPUs a cpus.* spec stands for here
type topoModule struct{ s *Session }

var _ starlark.HasAttrs = topoModule{}

// String returns "<module topo>".
func (t topoModule) String() string { return "<module topo>" }

// Type returns "module".
func (t topoModule) Type() string { return "module" }

// Freeze does nothing: the module has no mutable state a script sees.
func (t topoModule) Freeze() {}

// Truth is always true.
func (t topoModule) Truth() starlark.Bool { return true }

// Hash fails, as for any module.
func (t topoModule) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: module") }

// AttrNames lists the members.
func (t topoModule) AttrNames() []string {
	return []string{"cpus", "cpuset", "llcs", "node_cpus", "numa_nodes", "smt_siblings", "usable_cpus"}
}

// Attr reads the topology on first use; a machine whose sysfs cannot be
// read makes every member an error.
func (t topoModule) Attr(name string) (starlark.Value, error) {
	if name == "cpuset" {
		return starlark.NewBuiltin("cpuset", guard(t.cpuset)), nil
	}
	tp, err := t.s.topology()
	if err != nil {
		return nil, fmt.Errorf("topo.%s: %w", name, err)
	}
	switch name {
	case "cpus":
		return intList(tp.CPUs), nil
	case "usable_cpus":
		return intList(tp.UsableCPUs()), nil
	case "llcs":
		out := make([]starlark.Value, len(tp.LLCs))
		for i, l := range tp.LLCs {
			out[i] = intList(l.CPUs)
		}
		return starlark.NewList(out), nil
	case "numa_nodes":
		ids := make([]int, len(tp.Nodes))
		for i, n := range tp.Nodes {
			ids[i] = n.ID
		}
		return intList(ids), nil
	case "node_cpus":
		d := starlark.NewDict(len(tp.Nodes))
		for _, n := range tp.Nodes {
			d.SetKey(starlark.MakeInt(n.ID), intList(n.CPUs))
		}
		return d, nil
	case "smt_siblings":
		sib := tp.SMTSiblings()
		out := make([]starlark.Value, len(sib))
		for i, s := range sib {
			out[i] = intList(s)
		}
		return starlark.NewList(out), nil
	}
	return nil, nil
}

func (t topoModule) cpuset(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "spec", &v); err != nil {
		return nil, err
	}
	spec, err := cpusetSpec("topo.cpuset", v)
	if err != nil {
		return nil, err
	}
	tp, err := t.s.topology()
	if err != nil {
		return nil, fmt.Errorf("topo.cpuset: %w", err)
	}
	cpus, err := spec.Resolve(tp)
	if err != nil {
		return nil, fmt.Errorf("topo.cpuset: %w", err)
	}
	return intList(cpus), nil
}

// topology returns the run's topology: Options.Topology, else the host's,
// read once.
func (s *Session) topology() (*topo.Topology, error) {
	if s.opts.Topology != nil {
		return s.opts.Topology, nil
	}
	if s.topo == nil && s.topoErr == nil {
		s.topo, s.topoErr = topo.Host()
	}
	return s.topo, s.topoErr
}

// intList converts ints to a new Starlark list.
// namesBuiltin is a builtin without parameters that returns names() as a
// list of strings (work.names, checks.names).
func namesBuiltin(names func() []string) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		names := names()
		out := make([]starlark.Value, len(names))
		for i, n := range names {
			out[i] = starlark.String(n)
		}
		return starlark.NewList(out), nil
	}
}

func intList(xs []int) *starlark.List {
	out := make([]starlark.Value, len(xs))
	for i, x := range xs {
		out[i] = starlark.MakeInt(x)
	}
	return starlark.NewList(out)
}
