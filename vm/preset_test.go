package vm

import (
	"strings"
	"testing"
)

// TestPresetsResolve checks that every preset makes a guest QEMU can
// build: one LLC per die, LLCs split evenly over the nodes.
func TestPresetsResolve(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Presets() {
		if seen[p.Name] {
			t.Errorf("preset %s listed twice", p.Name)
		}
		seen[p.Name] = true
		var o Options
		p.Apply(&o)
		topo, err := o.resolve()
		if err != nil {
			t.Errorf("%s (%s): %v", p.Name, p.Shape(), err)
			continue
		}
		if got := topo.sockets * topo.dies; got != p.LLCs {
			t.Errorf("%s: %d sockets × %d dies = %d LLCs, want %d", p.Name, topo.sockets, topo.dies, got, p.LLCs)
		}
		if topo.cores != p.Cores || topo.threads != p.Threads {
			t.Errorf("%s: %d cores × %d threads per LLC, want %d × %d", p.Name, topo.cores, topo.threads, p.Cores, p.Threads)
		}
		if n := max(len(topo.nodes), 1); n != p.Nodes {
			t.Errorf("%s: %d nodes, want %d", p.Name, n, p.Nodes)
		}
		if topo.memMiB<<20 < int64(p.CPUs())<<26 {
			t.Errorf("%s: %d MiB for %d CPUs, want at least 64 MiB each", p.Name, topo.memMiB, p.CPUs())
		}
	}
	if len(seen) != 24 {
		t.Errorf("%d presets, want ktstr's 24", len(seen))
	}
}

func TestParsePreset(t *testing.T) {
	tests := []struct {
		in, shape, label string
		cpus             int
		err              string
	}{
		{in: "tiny-2llc", shape: "1n2l2c1t", label: "tiny-2llc", cpus: 4},
		{in: "numa2-4llc", shape: "2n4l4c1t", label: "numa2-4llc", cpus: 16},
		{in: "max-cpu", shape: "1n14l9c2t", label: "max-cpu", cpus: 252},
		{in: "1n2l2c1t", shape: "1n2l2c1t", label: "1n2l2c1t", cpus: 4},
		{in: "2n2l1c2t", shape: "2n2l1c2t", label: "2n2l1c2t", cpus: 4},
		{in: "tiny", err: `preset "tiny": want a name (tiny-1llc, tiny-2llc,`},
		{in: "1n3l2c1t2", err: "want a name"},
		{in: "0n1l1c1t", err: "nodes, LLCs, cores and threads must each be 1..255"},
		{in: "1n1l1c99999999999999999999t", err: "must each be 1..255"},
		{in: "2n3l1c1t", err: "3 LLCs do not split evenly over 2 nodes"},
		{in: "1n1l1c9t", err: "9 threads per core: want 1..8"},
		{in: "1n16l16c1t", err: "256 CPUs: want at most 255"},
	}
	for _, tt := range tests {
		p, err := ParsePreset(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePreset(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePreset(%q): %v", tt.in, err)
			continue
		}
		if p.Shape() != tt.shape || p.Label() != tt.label || p.CPUs() != tt.cpus {
			t.Errorf("ParsePreset(%q) = %s %s %d CPUs, want %s %s %d", tt.in, p.Label(), p.Shape(), p.CPUs(), tt.label, tt.shape, tt.cpus)
		}
	}
}

// TestPresetApplyKeepsMemory: a preset sets the shape but not a memory
// size the user gave.
func TestPresetApplyKeepsMemory(t *testing.T) {
	o := Options{Memory: 512 << 20, CPUs: 99, Nodes: []Node{{CPUs: 1}}}
	p, _ := ParsePreset("tiny-2llc")
	p.Apply(&o)
	if o.Memory != 512<<20 || o.CPUs != 4 || o.LLCs != 2 || o.Nodes != nil {
		t.Errorf("Apply = %+v", o)
	}
	o = Options{}
	p, _ = ParsePreset("medium-8llc")
	p.Apply(&o)
	if o.Memory != 64<<26 {
		t.Errorf("medium-8llc memory %d, want 4 GiB (64 MiB per CPU)", o.Memory)
	}
}
