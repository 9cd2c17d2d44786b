package topo

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/cpulist"
)

func TestCpusetSpec(t *testing.T) {
	smt := fixtureTopology(t, "two-socket-smt") // 16 CPUs, usable 0-14
	cxl := fixtureTopology(t, "cxl-memory-node")
	eight := Synthetic(8, 2) // the spec's worked example: usable 0-6
	for _, tc := range []struct {
		topo *Topology
		spec CpusetSpec
		want string // resolved CPU list, or the error's distinctive text
		err  bool
	}{
		// runtime.md §7.2's worked example.
		{eight, CpusDisjoint(0, 2), "0-2", false},
		{eight, CpusDisjoint(1, 2), "3-6", false},
		{eight, CpusOverlap(0, 2, 0.5), "0-3", false},
		{eight, CpusOverlap(1, 2, 0.5), "2-6", false},
		{eight, CpusRange(0, 0.5), "0-2", false},
		{eight, CpusRange(0, 0.1), "", false},
		// The two-socket SMT machine.
		{smt, CpusLLC(0), "0-3,8-11", false},
		{smt, CpusLLC(1), "4-7,12-15", false}, // includes the reserved CPU 15
		{smt, CpusNuma(1), "4-7,12-15", false},
		{smt, CpusDisjoint(0, 2), "0-6", false},
		{smt, CpusDisjoint(1, 2), "7-14", false},
		{smt, CpusDisjoint(2, 3), "10-14", false},
		{smt, CpusOverlap(1, 3, 0.5), "3-11", false},
		{smt, CpusOverlap(2, 3, 0.5), "8-14", false},
		{smt, CpusOverlap(1, 4, 0.5), "2-6", false},
		{smt, CpusOverlap(0, 4, 1), "0-5", false},
		{smt, CpusOverlap(1, 2, 0), "7-14", false},
		{smt, CpusRange(0.5, 1), "7-14", false},
		{smt, CpusExact(15, 3, 3), "3,15", false},
		{smt, CpusDisjoint(0, 1), "0-14", false},
		// Errors.
		{smt, CpusLLC(2), "LLC index 2 does not exist (this machine has 2 LLCs: allowed 0..1)", true},
		{smt, CpusLLC(-1), "LLC index -1 does not exist", true},
		{smt, CpusNuma(2), "NUMA node 2 does not exist (nodes: 0-1)", true},
		{cxl, CpusNuma(1), "NUMA node 1 has memory but no CPUs", true},
		{smt, CpusDisjoint(0, 0), "of = 0 partitions", true},
		{smt, CpusDisjoint(2, 2), "index = 2 is out of range (allowed: 0..1)", true},
		{smt, CpusDisjoint(0, 16), "16 partitions but only 15 usable CPUs (0-14); use at most 15 partitions", true},
		{cxl, CpusOverlap(0, 4, 0.5), "4 partitions but only 3 usable CPUs", true},
		{smt, CpusOverlap(0, 2, 1.5), "frac = 1.5 is out of range", true},
		{smt, CpusOverlap(0, 2, math.NaN()), "frac = NaN is out of range", true},
		{smt, CpusRange(0.5, 0.5), "start = 0.5 must be below end = 0.5", true},
		{smt, CpusRange(-0.1, 0.5), "start = -0.1 is out of range", true},
		{smt, CpusRange(0, math.Inf(1)), "end = +Inf is out of range", true},
		{smt, CpusExact(), "the CPU list is empty", true},
		{smt, CpusExact(3, 16), "CPU 16 does not exist on this machine (CPUs: 0-15)", true},
	} {
		got, err := tc.spec.Resolve(tc.topo)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err = %v, want one containing %q", tc.spec, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), ErrInvalid.Error()+": cpuset "+tc.spec.String()+":") {
				t.Errorf("%s: error %q does not name the spec", tc.spec, err)
			}
			continue
		}
		if err != nil || cpulist.Format(got) != tc.want || got == nil {
			t.Errorf("%s = %v (%q), %v; want %q", tc.spec, got, cpulist.Format(got), err, tc.want)
		}
	}
}

// TestCpusetResolveClamps: the unvalidated formulas never panic.
func TestCpusetResolveClamps(t *testing.T) {
	topo := Synthetic(4, 2)
	for _, s := range []CpusetSpec{
		CpusLLC(9), CpusLLC(-3), CpusNuma(7), CpusDisjoint(5, 2), CpusDisjoint(0, 0), CpusDisjoint(0, 9),
		CpusOverlap(-1, 3, 9), CpusRange(math.NaN(), 2), CpusRange(1, 0), {Kind: 99},
	} {
		got := s.resolve(topo)
		if got == nil || !slices.IsSorted(got) {
			t.Errorf("%s resolved to %v", s, got)
		}
	}
	if got := CpusLLC(9).resolve(topo); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("llc(9) clamps to the last LLC: got %v", got)
	}
}
