package starlib

import (
	"context"
	"fmt"
	"slices"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/workload"
)

// The stand-ins of a check-only session (Options.CheckOnly, `ktstar
// check`): the script runs through every constructor and validation a
// real run does, but nothing is spawned, slept, written to a cgroup or
// opened on a device. What a real run would learn only by running (report
// values, pids, what a cgroup holds) comes back empty or zero.

// workers is what a Handle drives: a *workload.Handle, or a checkWorkers.
type workers interface {
	Pids() []int
	Start() error
	SnapshotIterations() []uint64
	SetAffinity(i int, cpus []int) error
	SetPhaseEpoch(e uint32)
	StopAndCollectContext(ctx context.Context) ([]workload.Report, error)
	CgroupFallback() error
	Close()
}

// group is what a CgroupValue drives: a *cgroupfs.Manager, or a
// checkGroup.
type group interface {
	Group() string
	Path() string
	SetCpus(cpus []int) error
	ClearCpus() error
	AddProcs(pids []int) (gone []int, err error)
	Procs(recursive bool) ([]int, error)
	Destroy() error
	Freeze() error
	Thaw() error
	ClearSubtreeControl() error
	ReadFile(name string) (string, error)
}

var (
	_ workers = (*workload.Handle)(nil)
	_ group   = (*cgroupfs.Manager)(nil)
)

// checkWorkers stands in for the workers of a validated spawn request.
type checkWorkers struct {
	cfg     workload.Config
	stopped bool
	steps   []uint32 // the step epochs SetPhaseEpoch wrote, in order
}

// checkSpawn checks c as workload.Spawn does before it forks.
func checkSpawn(c workload.Config) (*checkWorkers, error) {
	if err := c.Preflight(); err != nil {
		return nil, err
	}
	return &checkWorkers{cfg: c}, nil
}

// Pids are zeros: no process exists.
func (w *checkWorkers) Pids() []int { return make([]int, w.cfg.TotalWorkers()) }

func (w *checkWorkers) Start() error { return nil }

func (w *checkWorkers) SnapshotIterations() []uint64 { return make([]uint64, w.cfg.TotalWorkers()) }

func (w *checkWorkers) SetAffinity(i int, cpus []int) error {
	return workload.CheckSetAffinity(w.cfg.TotalWorkers(), i, cpus)
}

// SetPhaseEpoch notes the steps a scenario ran, for the reports' slices.
func (w *checkWorkers) SetPhaseEpoch(e uint32) {
	if e != workload.PhaseBaseline && e != workload.PhaseGap && !slices.Contains(w.steps, e) {
		w.steps = append(w.steps, e)
	}
}

// StopAndCollectContext returns one completed report per worker, in the
// groups a real run would form, whose measurements are all 1 (one sample
// each), so that arithmetic and stats over them go through as on a real
// run; a backdrop worker has such a slice for each step.
func (w *checkWorkers) StopAndCollectContext(context.Context) ([]workload.Report, error) {
	if w.stopped {
		return nil, fmt.Errorf("stop: workload already stopped")
	}
	w.stopped = true
	var out []workload.Report
	for k, c := range append([]workload.Config{w.cfg}, w.cfg.Composed...) {
		g := max(c.Work.GroupSize(), 1)
		for i := range c.Workers {
			out = append(out, workload.Report{GroupIdx: k, WorkGroup: i / g, Completed: true, WorkUnits: 1, Iterations: 1,
				CPUTimeNs: 1, WallTimeNs: 1, WakeLatenciesNs: []uint64{1}, WakeSampleTotal: 1,
				IterationCostsNs: []uint64{1}, IterationCostSampleTotal: 1, CPUsUsed: []int{0}})
			for _, e := range w.steps {
				out[len(out)-1].PhaseSlices = append(out[len(out)-1].PhaseSlices, workload.PhaseSlice{PhaseEpoch: e, WorkUnits: 1, Iterations: 1,
					CPUTimeNs: 1, WallNs: 1, CPUsUsed: []int{0}, WakeLatenciesNs: []uint64{1}, WakeSampleTotal: 1})
			}
			c.Work.StandIn(&out[len(out)-1])
		}
	}
	return out, nil
}

func (w *checkWorkers) Close() { w.stopped = true }

// CgroupFallback is nil: no worker is created anywhere.
func (w *checkWorkers) CgroupFallback() error { return nil }

// checkGroup stands in for a cgroup that a check creates nowhere.
type checkGroup struct{ name string }

func (g checkGroup) Group() string                   { return "/ktstar-check/" + g.name }
func (g checkGroup) Path() string                    { return "" }
func (g checkGroup) SetCpus([]int) error             { return nil }
func (g checkGroup) ClearCpus() error                { return nil }
func (g checkGroup) AddProcs([]int) ([]int, error)   { return nil, nil }
func (g checkGroup) Procs(bool) ([]int, error)       { return nil, nil }
func (g checkGroup) Destroy() error                  { return nil }
func (g checkGroup) Freeze() error                   { return nil }
func (g checkGroup) Thaw() error                     { return nil }
func (g checkGroup) ClearSubtreeControl() error      { return nil }
func (g checkGroup) ReadFile(string) (string, error) { return "", nil }

// checkCpusetUsable says, reading only, whether a run's groups could have
// cpusets: whether the v2 hierarchy offers the controller.
func checkCpusetUsable() error {
	root, err := cgroupfs.Default()
	if err != nil {
		return fmt.Errorf("no cgroup v2 hierarchy: %w", err)
	}
	return root.Unavailable("cpuset")
}
