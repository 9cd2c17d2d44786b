package workload

import (
	"errors"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
)

func TestResolveAffinity(t *testing.T) {
	smt := testenv.Topology(t, "two-socket-smt")
	cxl := testenv.Topology(t, "cxl-memory-node")
	host := testenv.Topology(t, "this-host")
	none := []int(nil)
	empty := []int{}
	for _, tc := range []struct {
		name   string
		topo   *topo.Topology
		a      Affinity
		cpuset []int
		want   string // the resolved intent, or the error's distinctive text
		err    bool
	}{
		{"inherit", smt, Inherit(), []int{1}, "inherit()", false},
		{"cross cgroup", smt, CrossCgroup(), []int{1}, "exact(0-15)", false},
		{"single no cpuset", smt, SingleCPU(), none, "exact(0)", false},
		{"single cpuset", smt, SingleCPU(), []int{6, 5}, "exact(5)", false},
		{"single empty", smt, SingleCPU(), empty, "affinity single_cpu(): no CPU to pick from the cgroup's empty cpuset {}; widen the cpuset or use inherit()", true},
		{"llc no cpuset tie", smt, LLCAligned(), none, "exact(0-3,8-11)", false},
		{"llc largest overlap", smt, LLCAligned(), []int{3, 4, 5}, "exact(4-5)", false},
		{"llc tie first wins", smt, LLCAligned(), []int{3, 4}, "exact(3)", false},
		{"llc empty", smt, LLCAligned(), empty, "affinity llc_aligned(): no LLC has a CPU in the cgroup's empty cpuset {}", true},
		{"llc cpuset off machine", smt, LLCAligned(), []int{40}, "no LLC has a CPU in the cgroup's cpuset {40}", true},
		{"smt no cpuset", smt, SMTSiblingPair(), none, "exact(0,8)", false},
		{"smt cpuset", smt, SMTSiblingPair(), []int{1, 2, 9}, "exact(1,9)", false},
		{"smt second llc", smt, SMTSiblingPair(), []int{0, 1, 6, 14}, "exact(6,14)", false},
		{"smt split", smt, SMTSiblingPair(), []int{0, 1, 2, 3}, "affinity smt_sibling_pair(): no core has two SMT siblings in the cgroup's cpuset {0-3}: SMT is off, the cpuset splits every core's siblings", true},
		{"smt without smt", cxl, SMTSiblingPair(), none, "no core has two SMT siblings in the cgroup's <no cpuset>: this machine has no SMT siblings", true},
		{"smt this host", host, SMTSiblingPair(), none, "this machine has no SMT siblings", true},
		{"exact no cpuset", smt, Exact(5, 4), none, "exact(4-5)", false},
		{"exact within", smt, Exact(4, 5), []int{0, 1, 2, 3, 4, 5}, "exact(4-5)", false},
		{"exact narrowed", smt, Exact(4, 5, 6), []int{5, 6, 7}, "exact(5-6)", false},
		{"exact disjoint", smt, Exact(8), []int{0, 1, 2, 3}, "affinity exact(8): none of these CPUs is in the cgroup's cpuset {0-3}; choose CPUs inside it, widen the cpuset, or use inherit()", true},
		{"exact empty", smt, Exact(), none, "affinity exact(): the CPU list is empty", true},
		{"random narrowed", smt, RandomSubset([]int{0, 1, 2, 3, 4, 5, 6, 7}, 3), []int{6, 7, 8, 9}, "random_subset(6-7, 2)", false},
		{"random no cpuset", smt, RandomSubset([]int{2, 1}, 1), none, "random_subset(1-2, 1)", false},
		{"random count 0", smt, RandomSubset([]int{1}, 0), none, "affinity random_subset(1, 0): count = 0 draws no CPUs", true},
		{"random disjoint", smt, RandomSubset([]int{4, 5}, 1), []int{0, 1}, "affinity random_subset(4-5, 1): none of these CPUs is in the cgroup's cpuset {0-1}", true},
		{"random empty from", smt, RandomSubset(nil, 1), none, "the CPU list to draw from is empty (<no cpuset>)", true},
	} {
		got, err := ResolveAffinity(tc.a, tc.topo, tc.cpuset)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.name, got, err, tc.want)
			continue
		}
		// What ResolveAffinity returns is always accepted by a plain spawn.
		if err := got.validate(tc.topo.CPUs); err != nil {
			t.Errorf("%s: resolved %s is rejected by the spawn gate: %v", tc.name, got, err)
		}
	}
}

// TestPlainSpawnGate: topology-aware intents need a scenario.
func TestPlainSpawnGate(t *testing.T) {
	for _, a := range []Affinity{SingleCPU(), LLCAligned(), CrossCgroup(), SMTSiblingPair()} {
		cfg := Config{Workers: 1, Affinity: a}
		err := cfg.validate([]int{0, 1})
		want := "affinity " + a.String() + " requires scenario context: a plain spawn accepts inherit(), exact(cpus) and random_subset(cpus, count); topology-aware intents are resolved automatically inside scenarios"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", a, err, want)
		}
	}
	for _, a := range []Affinity{Inherit(), Exact(1), RandomSubset([]int{0, 1}, 1)} {
		cfg := Config{Workers: 1, Affinity: a}
		if err := cfg.validate([]int{0, 1}); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}
