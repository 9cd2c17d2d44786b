package workload

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/kernfs"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// TestMemPolicyApplied spawns a worker per policy on node 0 and reads its
// numa_maps: every mapping shows the policy the worker set for itself.
func TestMemPolicyApplied(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		pol  MemPolicy
		want string
	}{
		{MemPolicy{Mode: MemBind, Nodes: []int{0}}, "bind:0"},
		{MemPolicy{Mode: MemInterleave, Nodes: []int{0}}, "interleave:0"},
		{MemPolicy{Mode: MemPreferred, Nodes: []int{0}}, "prefer:0"},
		{MemPolicy{Mode: MemLocal}, "local"},
		{MemPolicy{Mode: MemBind, Nodes: []int{0}, Flags: MpolStaticNodes}, "bind=static:0"},
	} {
		h := spawnWork(t, Config{Workers: 1, MemPolicy: tc.pol})
		maps, err := kernfs.ReadNumaMaps(kernfs.Proc, strconv.Itoa(h.Pids()[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range maps {
			if m.Policy != tc.want {
				t.Errorf("%s: mapping %#x has policy %q, want %q", tc.pol, m.Addr, m.Policy, tc.want)
				break
			}
		}
		stopWork(t, h)
	}
}

// TestMemPolicyValidation refuses policies the kernel would reject or
// that name nodes this machine does not have, before anything forks.
func TestMemPolicyValidation(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		pol  MemPolicy
		want string
	}{
		{MemPolicy{Mode: MemBind}, "mem_policy bind(\"\"): at least one NUMA node is required (e.g. bind([0]), or local())"},
		{MemPolicy{Mode: MemPreferred, Nodes: []int{0, 1}}, "preferred takes exactly one node, got 2"},
		{MemPolicy{Mode: MemLocal, Nodes: []int{0}}, "local takes no nodes"},
		{MemPolicy{Mode: MemBind, Nodes: []int{0}, Flags: 1}, "unknown flag bits 0x1"},
		{MemPolicy{Mode: MemBind, Nodes: []int{0}, Flags: MpolStaticNodes | MpolRelativeNodes}, "static_nodes and relative_nodes exclude each other"},
		{MemPolicy{Mode: MemInterleave, Nodes: []int{1000}}, "node 1000 is not online (online nodes: "},
		{MemPolicy{Mode: 9, Nodes: []int{0}}, "mem_policy mode 9 is unknown"},
	} {
		_, err := Spawn(Config{Workers: 1, MemPolicy: tc.pol})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one containing %q", tc.pol, err, tc.want)
		}
	}
}

// TestGuestMemPolicy runs workers pinned to node 0's CPUs of a two-node
// guest: bind to node 1 puts their region's pages on node 1, interleave
// over both spreads them, and a policy naming a node outside a cgroup's
// mems is refused before anything forks.
func TestGuestMemPolicy(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 2, NUMA: 2, Memory: 1 << 30}) {
		return
	}
	leakCheck(t)
	const regionPages = 4096 / 4
	node0, err := topo.NodeCPUList(0)
	if err != nil || len(node0) == 0 {
		t.Fatalf("guest node 0 CPUs: %v (%v)", node0, err)
	}
	run := func(pol MemPolicy) map[int]uint64 {
		h := spawnWork(t, Config{Workers: 1, Affinity: Exact(node0...), MemPolicy: pol,
			Work: MustWork("NumaWorkingSetSweep", map[string]any{"sweep_period_ms": 0, "region_kb": regionPages * 4})})
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		waitProgress(t, h, 2) // every page of the region touched
		return stopWork(t, h)[0].NumaPages
	}
	if pages := run(MemPolicy{Mode: MemBind, Nodes: []int{1}}); pages[1] < regionPages {
		t.Errorf("bind(1) from node 0's CPUs: pages per node %v, want at least the region's %d on node 1", pages, regionPages)
	}
	// Interleave is not strict: a page whose turn falls on a node short of
	// free memory goes to the other (node 0 of the guest holds its
	// initramfs; a run saw 257 and 768 pages). Pinned to node 0 without a
	// policy, node 1 would get none.
	if pages := run(MemPolicy{Mode: MemInterleave, Nodes: []int{0, 1}}); pages[0] < regionPages/8 || pages[1] < regionPages/8 {
		t.Errorf("interleave(0-1): pages per node %v, want the region's %d spread over both", pages, regionPages)
	}

	cg := testSetGroup(t, "cpuset", "mems0", "cpuset.mems", "0")
	_, err = Spawn(Config{Workers: 1, Cgroup: cg, MemPolicy: MemPolicy{Mode: MemBind, Nodes: []int{1}}})
	if want := "node(s) 1 are outside cgroup " + cg.Group() + "'s mems 0"; !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
		t.Errorf("bind(1) in a group with mems 0: err = %v, want %q", err, want)
	}
	stopWork(t, spawnWork(t, Config{Workers: 1, Cgroup: cg, MemPolicy: MemPolicy{Mode: MemBind, Nodes: []int{0}}}))
}
