package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/topo"
)

// crossAffinityTypes holds CrossAffinityChurn, which rewrites other
// tasks' CPU masks (the set_cpus_allowed paths racing their wake-ups).
var crossAffinityTypes = []Type{{
	Name: "CrossAffinityChurn", Ctor: "cross_affinity_churn",
	Doc:    "Spin, then set every other process of the worker's cgroup to all of the worker's CPUs or all but the highest, alternately; then yield (a wake sample).",
	Params: []Param{itersParam("spin_iters", "spin steps before each round of rewrites")},
	Sample: SampleYield,
	Placement: &Placement{
		Acts: "CrossAffinityChurn rewrites the CPU mask of every other process in its cgroup",
		Dirs: func(_ Config, own string) ([]string, error) { return []string{own}, nil },
	},
	New: newCrossAffinityChurn,
}}

// crossAffinityChurn flips its targets between two masks: A, every CPU
// the worker may use, and B, the same without the highest, B first.
// Targets are the processes of its group when it was spawned, so the
// workloads it churns must be spawned before it.
type crossAffinityChurn struct {
	w       *Worker
	spin    uint64
	targets []int
	masks   [2]unix.CPUSet // B, A
	flip    bool           // false: B next
}

func newCrossAffinityChurn(w *Worker) (Body, error) {
	if len(w.spec.CgroupDirs) == 0 {
		return nil, errors.New("no cgroup to read its tasks from (Spawn passes it after Placement.Dirs)")
	}
	b := &crossAffinityChurn{w: w, spin: uint64(w.work.Int("spin_iters"))}
	cpus, err := topo.AllowedCPUs()
	if err != nil {
		return nil, err
	}
	if len(cpus) >= 2 {
		b.masks = [2]unix.CPUSet{cpuSet(cpus[:len(cpus)-1]...), cpuSet(cpus...)}
	} else {
		// One CPU leaves nothing to alternate between: it only spins and yields.
		w.Count("single_cpu", 1)
	}
	procs := filepath.Join(w.spec.CgroupDirs[0], "cgroup.procs")
	f, err := os.Open(procs)
	if err != nil {
		return nil, fmt.Errorf("read its group's tasks: %w", err)
	}
	pids, err := cgroupfs.ParseProcs(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", procs, err)
	}
	self := os.Getpid()
	b.targets = slices.DeleteFunc(pids, func(p int) bool { return p == self })
	if len(cpus) < 2 {
		b.targets = nil
	}
	w.Count("targets", uint64(len(b.targets)))
	w.Count("affinity_rewrites", 0)
	w.Count("affinity_rewrite_errors", 0)
	return b, nil
}

func (b *crossAffinityChurn) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	if len(b.targets) > 0 {
		mask := &b.masks[0]
		if b.flip {
			mask = &b.masks[1]
		}
		for _, pid := range b.targets {
			// A target that exited (ESRCH) or whose cpuset is disjoint
			// from the mask (EINVAL) is counted, not retried.
			if unix.SchedSetaffinity(pid, mask) != nil {
				w.Count("affinity_rewrite_errors", 1)
			} else {
				w.Count("affinity_rewrites", 1)
			}
		}
		b.flip = !b.flip
	}
	t0 := nanotime()
	schedYield()
	w.WakeSample(nanotime() - t0)
	return true
}
