package starlib

import (
	"fmt"
	"reflect"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Topo is the Starlark module `topo`: the CPU topology of the machine
// the script runs on (inside `ktstar vm`, the guest's), read from /sys on
// each call.
//
//	def cpus() -> list of int           online CPUs, sorted
//	def numa_nodes() -> dict            node id -> list of its CPUs; a
//	                                    memory-only node maps to []
//	def smt_siblings() -> list of lists the CPUs of each core with more than
//	                                    one hardware thread; [] without SMT
//	def llcs() -> list of lists         the CPUs of each last-level cache
var Topo = &starlarkstruct.Module{
	Name: "topo",
	Members: starlark.StringDict{
		"cpus": topoFunc("cpus", func(t *workload.Topology) starlark.Value { return ints(t.CPUs) }),
		"numa_nodes": topoFunc("numa_nodes", func(t *workload.Topology) starlark.Value {
			d := starlark.NewDict(len(t.Nodes))
			for _, n := range t.Nodes {
				d.SetKey(starlark.MakeInt(n.ID), ints(n.CPUs))
			}
			return d
		}),
		"smt_siblings": topoFunc("smt_siblings", func(t *workload.Topology) starlark.Value { return ints(t.SMTSiblings()) }),
		"llcs": topoFunc("llcs", func(t *workload.Topology) starlark.Value {
			l := make([][]int, len(t.LLCs))
			for i, c := range t.LLCs {
				l[i] = c.CPUs
			}
			return ints(l)
		}),
	},
}

// topoFunc is a no-argument builtin over the host topology.
func topoFunc(name string, get func(*workload.Topology) starlark.Value) *starlark.Builtin {
	return starlark.NewBuiltin(name, guard(func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		t, err := workload.HostTopology()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return get(t), nil
	}))
}

// ints converts an []int or [][]int to a Starlark list (of lists) of ints.
func ints(v any) starlark.Value { return toStarlark(reflect.ValueOf(v)) }
