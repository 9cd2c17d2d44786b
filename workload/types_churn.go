package workload

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/topo"
)

// churnTypes are the lifecycle and scheduling-attribute churn types: each
// iteration forks, or changes the worker's own nice, policy or affinity.
var churnTypes = []Type{
	{
		Name: "ForkExit", Ctor: "fork_exit",
		Doc:         "Fork a child that exits at once, then wait for it; the wait is a wake sample.",
		NotAsThread: "a fork copies only the calling thread of a process whose other threads are workers, and the children's exits would reach every worker's waits",
		Sample:      SampleWaitpid,
		New: func(w *Worker) (Body, error) {
			// One fork up front turns a missing helper or an exhausted
			// RLIMIT_NPROC into a spawn error instead of a silent loop of failures.
			b := &forkExitBody{w: w}
			if err := shrinkForkedAddressSpace(); err != nil {
				return nil, fmt.Errorf("read the worker's mappings: %w", err)
			}
			if err := b.fork(); err != nil {
				return nil, err
			}
			return b, nil
		},
	},
	{
		Name: "NiceSweep", Ctor: "nice_sweep",
		Doc:    "Step the worker's nice value across its range, one step per iteration, then yield (a wake sample); nice is reset to 0 at stop.",
		Sample: SampleYield,
		New: func(w *Worker) (Body, error) {
			b := &niceSweep{w: w, min: niceFloor()}
			if b.min == 0 {
				w.Count("negative_nice_skipped", 1)
			}
			return b, nil
		},
	},
	{
		Name: "AffinityChurn", Ctor: "affinity_churn",
		Doc:    "Spin, re-pin to a random CPU of the starting mask, then yield (a wake sample).",
		Params: []Param{itersParam("spin_iters", "spin steps before each re-pin")},
		Sample: SampleYield,
		New: func(w *Worker) (Body, error) {
			cpus, err := topo.AllowedCPUs()
			if err != nil {
				return nil, err
			}
			b := &affinityChurn{w: w, spin: uint64(w.work.Int("spin_iters"))}
			for _, c := range cpus {
				b.sets = append(b.sets, cpuSet(c))
			}
			return b, nil
		},
	},
	{
		Name: "PolicyChurn", Ctor: "policy_churn",
		Doc:    "Spin, switch to the next scheduling policy in a fixed cycle, then yield (a wake sample); SCHED_OTHER is restored at stop.",
		Params: []Param{itersParam("spin_iters", "spin steps before each policy change")},
		Sample: SampleYield,
		New: func(w *Worker) (Body, error) {
			b := &policyChurn{w: w, spin: uint64(w.work.Int("spin_iters")), attrs: churnPolicies(rtAllowed())}
			if len(b.attrs) < len(churnPolicies(true)) {
				w.Count("rt_policies_skipped", 1)
			}
			return b, nil
		},
	},
	{
		Name: "NumaMigrationChurn", Ctor: "numa_migration_churn",
		Doc:     "Pin the worker to the next NUMA node's CPUs every period, then spin 256 steps.",
		Example: map[string]any{"period_ms": 0},
		Params: []Param{
			// An int of ms, as ktstr; bounded below the stop deadline since the sleep is one call.
			sleepMsParam("period_ms", "sleep between node moves, ms (0: no sleep)"),
		},
		New: func(w *Worker) (Body, error) {
			nodes, err := topo.OnlineNodes()
			if err != nil {
				return nil, err
			}
			b := &numaMigrationChurn{w: w, period: time.Duration(w.work.Int("period_ms")) * time.Millisecond}
			for _, n := range nodes {
				cpus, err := topo.NodeCPUList(n)
				if err != nil {
					return nil, err
				}
				if len(cpus) == 0 {
					continue // a memory-only node: nothing to run on
				}
				b.nodes = append(b.nodes, numaNode{set: cpuSet(cpus...), counter: fmt.Sprintf("node%d_visits", n)})
			}
			if len(b.nodes) == 0 {
				return nil, errors.New("no online NUMA node has CPUs")
			}
			return b, nil
		},
	},
}

type forkExitBody struct {
	w  *Worker
	ws unix.WaitStatus
}

func (b *forkExitBody) Step() bool {
	if err := b.fork(); err != nil {
		b.w.Count("fork_errors", 1)
	}
	return true
}

// fork forks one child and reaps it; the blocking wait is the wake sample
// and each reaped child is one work unit.
func (b *forkExitBody) fork() error {
	pid, errno := forkExit()
	if errno != 0 {
		return fmt.Errorf("fork: %w", unix.Errno(errno))
	}
	b.w.Count("children_forked", 1)
	t0 := nanotime()
	for {
		_, err := unix.Wait4(pid, &b.ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4(%d): %w", pid, err)
		}
		break
	}
	b.w.WakeSample(nanotime() - t0)
	b.w.Count("children_reaped", 1)
	b.w.AddUnits(1)
	return nil
}

// niceFloor returns the lowest nice the calling thread may set: -20 when
// it may lower its nice (CAP_SYS_NICE or RLIMIT_NICE), else 0. The probe
// leaves the thread at nice 0.
func niceFloor() int {
	if unix.Setpriority(unix.PRIO_PROCESS, 0, -20) != nil {
		return 0
	}
	unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	return -20
}

// threadNice returns the calling thread's nice value.
func threadNice() (int, error) {
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	return 20 - raw, err // the raw syscall returns 20 - nice
}

type niceSweep struct {
	w    *Worker
	min  int
	step int
}

func (b *niceSweep) Step() bool {
	w := b.w
	nice := b.min + b.step%(20-b.min)
	b.step++
	w.SpinBurst(512)
	if unix.Setpriority(unix.PRIO_PROCESS, 0, nice) != nil {
		w.Count("nice_set_errors", 1)
	} else {
		w.Count("nice_sets", 1)
	}
	t0 := nanotime()
	schedYield()
	w.WakeSample(nanotime() - t0)
	return true
}

// Finish restores nice 0 and records whether that worked (nice_reset_ok).
func (b *niceSweep) Finish(r *Report) {
	unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	if n, err := threadNice(); err == nil && n == 0 {
		r.Counters["nice_reset_ok"] = 1
	} else {
		r.Counters["nice_reset_ok"] = 0
	}
}

// rtAllowed reports whether the calling thread may use SCHED_FIFO; the
// probe leaves it at SCHED_OTHER.
func rtAllowed() bool {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: uint32(PolicyFifo), Priority: 1}
	if unix.SchedSetAttr(0, &attr, 0) != nil {
		return false
	}
	other := unix.SchedAttr{Size: unix.SizeofSchedAttr}
	unix.SchedSetAttr(0, &other, 0)
	return true
}

// churnPolicies is PolicyChurn's cycle: OTHER, BATCH, IDLE, then FIFO 1
// and RR 1 when real-time policies are allowed.
func churnPolicies(rt bool) []unix.SchedAttr {
	ps := []SchedPolicy{Normal(), Batch(), Idle()}
	if rt {
		ps = append(ps, Fifo(1), RoundRobin(1))
	}
	attrs := make([]unix.SchedAttr, len(ps))
	for i, p := range ps {
		attrs[i] = unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: uint32(p.Kind), Priority: uint32(p.Priority)}
	}
	return attrs
}

type policyChurn struct {
	w     *Worker
	spin  uint64
	attrs []unix.SchedAttr
	step  int
}

func (b *policyChurn) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	if unix.SchedSetAttr(0, &b.attrs[b.step%len(b.attrs)], 0) != nil {
		w.Count("policy_set_errors", 1)
	} else {
		w.Count("policy_sets", 1)
	}
	b.step++
	t0 := nanotime()
	schedYield()
	w.WakeSample(nanotime() - t0)
	return true
}

// Finish restores SCHED_OTHER and records whether that worked (policy_reset_ok).
func (b *policyChurn) Finish(r *Report) {
	other := unix.SchedAttr{Size: unix.SizeofSchedAttr}
	unix.SchedSetAttr(0, &other, 0)
	if a, err := unix.SchedGetAttr(0, 0); err == nil && a.Policy == uint32(PolicyNormal) {
		r.Counters["policy_reset_ok"] = 1
	} else {
		r.Counters["policy_reset_ok"] = 0
	}
}

type affinityChurn struct {
	w    *Worker
	spin uint64
	sets []unix.CPUSet // one single-CPU mask per CPU of the starting mask
}

func (b *affinityChurn) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	if unix.SchedSetaffinity(0, &b.sets[w.rand()%uint64(len(b.sets))]) != nil {
		w.Count("affinity_errors", 1)
	} else {
		w.Count("affinity_sets", 1)
	}
	t0 := nanotime()
	schedYield()
	w.WakeSample(nanotime() - t0)
	return true
}

type numaNode struct {
	set     unix.CPUSet
	counter string // per-node visit counter, named once so the loop does not allocate
}

type numaMigrationChurn struct {
	w      *Worker
	period time.Duration
	nodes  []numaNode
	step   int
}

func (b *numaMigrationChurn) Step() bool {
	w := b.w
	n := &b.nodes[b.step%len(b.nodes)]
	b.step++
	if unix.SchedSetaffinity(0, &n.set) != nil {
		w.Count("affinity_errors", 1)
	} else {
		w.Count(n.counter, 1)
	}
	if b.period > 0 && !w.Stopped() {
		nanosleep(b.period)
	}
	w.SpinBurst(256)
	w.ResetGap()
	return true
}
