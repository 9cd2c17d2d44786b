package workload

import (
	"slices"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
)

// TestOneWayWake runs the paired types pinned to one CPU and to two: every
// wake sample is a real one-way wake (none below 300 ns, which no wake
// through the scheduler can beat), and each worker's samples plus the
// hand-offs that arrived before its wait account for every hand-off its
// partner made (give or take the start, where both sides flip at once, and
// the last one, cut by stop).
func TestOneWayWake(t *testing.T) {
	two := testenv.CPUs(t, 2)
	for _, typ := range []string{"FutexPingPong", "PipeIo", "CachePipe"} {
		for _, cpus := range [][]int{{two[0], two[0]}, two} {
			t.Run(typ+"/cpus"+FormatCPUList(slices.Compact(slices.Clone(cpus))), func(t *testing.T) {
				h := spawnWork(t, Config{Workers: 2, Work: MustWork(typ, nil)})
				for i, c := range cpus {
					if err := h.SetAffinity(i, []int{c}); err != nil {
						t.Fatal(err)
					}
				}
				if err := h.Start(); err != nil {
					t.Fatal(err)
				}
				// Enough hand-offs that a stray non-wake sample would
				// show, however slowly a loaded machine gets there.
				testenv.WaitProgress(t, h.SnapshotIterations, 200, 300*time.Millisecond, parkLimit)
				rs := stopWork(t, h)
				for i, r := range rs {
					partner := rs[1-i]
					if r.WakeSampleTotal == 0 {
						t.Fatalf("worker %d: no wake samples in %d iterations", i, r.Iterations)
					}
					// The exact minimum over every sample, not the reservoir's.
					if m := r.WakeStats.Min; m < 300 {
						t.Errorf("worker %d: a %d ns wake sample; every sample must be a real wake", i, m)
					}
					if r.SampleKind != SampleWake {
						t.Errorf("worker %d: sample kind %q", i, r.SampleKind)
					}
					got := r.WakeSampleTotal + r.Counters[handoffsBeforeWait]
					if got > partner.Iterations || got+2 < partner.Iterations {
						t.Errorf("worker %d: %d samples + %d hand-offs before the wait, partner handed off %d times",
							i, r.WakeSampleTotal, r.Counters[handoffsBeforeWait], partner.Iterations)
					}
					t.Logf("worker %d: %d samples (min %d ns), %d before the wait, partner %d hand-offs",
						i, r.WakeSampleTotal, r.WakeStats.Min, r.Counters[handoffsBeforeWait], partner.Iterations)
				}
			})
		}
	}
}

// TestOneWayWakeChain checks the same for both token primitives of
// WakeChain: each stage's samples plus tokens already there when its wait
// began account for its predecessor's hops.
func TestOneWayWakeChain(t *testing.T) {
	for _, prim := range []string{"Pipe", "Futex"} {
		t.Run(prim, func(t *testing.T) {
			const depth = 3
			w := MustWork("WakeChain", map[string]any{"depth": depth, "wake": prim, "work_per_hop": "20us"})
			rs := runFor(t, Config{Workers: depth, Work: w}, 200*time.Millisecond)
			for i, r := range rs {
				pred := rs[(i+depth-1)%depth]
				if r.WakeSampleTotal == 0 || r.WakeStats.Min < 300 {
					t.Errorf("stage %d: %d samples, the least below 300 ns: %v", i, r.WakeSampleTotal, slices.Sorted(slices.Values(r.WakeLatenciesNs))[:min(len(r.WakeLatenciesNs), 3)])
				}
				got := r.WakeSampleTotal + r.Counters[handoffsBeforeWait]
				if hops := pred.Counters["hops"]; got > hops+2 || got+2 < hops {
					t.Errorf("stage %d: %d samples + %d tokens before the wait, predecessor passed %d", i, r.WakeSampleTotal, r.Counters[handoffsBeforeWait], hops)
				}
			}
		})
	}
}
