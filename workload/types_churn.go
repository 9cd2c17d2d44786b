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
			if err := b.shrinker.open(); err != nil {
				return nil, fmt.Errorf("read the worker's mappings: %w", err)
			}
			if err := b.fork(); err != nil {
				b.shrinker.close()
				return nil, err
			}
			return b, nil
		},
	},
	{
		Name: "NiceSweep", Ctor: "nice_sweep",
		Doc:    "Step the worker's nice value across its range, one step per iteration, then yield (a wake sample); nice is reset to 0 at stop.",
		Sample: SampleYield,
		New:    newNiceSweep,
	},
	{
		Name: "AffinityChurn", Ctor: "affinity_churn",
		Doc:    "Spin, re-pin to a random CPU of the starting mask, then yield (a wake sample).",
		Params: []Param{itersParam("spin_iters", "spin steps before each re-pin")},
		Sample: SampleYield,
		New:    newAffinityChurn,
	},
	{
		Name: "PolicyChurn", Ctor: "policy_churn",
		Doc:    "Spin, switch to the next scheduling policy in a fixed cycle, then yield (a wake sample); SCHED_OTHER is restored at stop.",
		Params: []Param{itersParam("spin_iters", "spin steps before each policy change")},
		Sample: SampleYield,
		New:    newPolicyChurn,
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
	w        *Worker
	ws       unix.WaitStatus
	shrinker addressShrinker
	shrunk   bool // the first step has marked the mappings made since New
}

func (b *forkExitBody) Step() bool {
	if !b.shrunk {
		b.shrunk = true
		// It read the same file when the body was made; failing now
		// leaves the later mappings copied, a cost and not an error.
		b.shrinker.shrink()
	}
	if err := b.fork(); err != nil {
		b.w.Count("fork_errors", 1)
	}
	return true
}

// Close closes the maps file.
func (b *forkExitBody) Close() { b.shrinker.close() }

// fork forks one child and reaps it; the blocking wait is the wake sample
// and each reaped child is one work unit. The wait is a raw one, as the
// loops' synchronisation waits are (sys_linux.go), and for one more reason:
// a thread the runtime woke to take the P during the wait would write its
// stack, mapped after the addressShrinker's last pass and so shared with
// the next child, and take a copy-on-write fault per fork.
func (b *forkExitBody) fork() error {
	pid, errno := forkExit()
	if errno != 0 {
		return fmt.Errorf("fork: %w", unix.Errno(errno))
	}
	b.w.Count("children_forked", 1)
	t0 := nanotime()
	for {
		err := rawWait4(pid, &b.ws)
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

// newNiceSweep steps nice from the lowest the thread may set up to 19,
// spinning 512 steps before each change; nice is back at 0 at stop.
func newNiceSweep(w *Worker) (Body, error) {
	floor := niceFloor()
	if floor == 0 {
		w.Count("negative_nice_skipped", 1)
	}
	return &attrChurn{w: w, spin: 512, sets: "nice_sets", errs: "nice_set_errors",
		change: func(step int) error {
			return unix.Setpriority(unix.PRIO_PROCESS, 0, floor+step%(20-floor))
		},
		resetOK: "nice_reset_ok",
		reset: func() bool {
			unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
			n, err := threadNice()
			return err == nil && n == 0
		},
	}, nil
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

// newPolicyChurn cycles the thread through churnPolicies; SCHED_OTHER is
// back at stop.
func newPolicyChurn(w *Worker) (Body, error) {
	attrs := churnPolicies(rtAllowed())
	if len(attrs) < len(churnPolicies(true)) {
		w.Count("rt_policies_skipped", 1)
	}
	return &attrChurn{w: w, spin: uint64(w.work.Int("spin_iters")), sets: "policy_sets", errs: "policy_set_errors",
		change:  func(step int) error { return unix.SchedSetAttr(0, &attrs[step%len(attrs)], 0) },
		resetOK: "policy_reset_ok",
		reset: func() bool {
			other := unix.SchedAttr{Size: unix.SizeofSchedAttr}
			unix.SchedSetAttr(0, &other, 0)
			a, err := unix.SchedGetAttr(0, 0)
			return err == nil && a.Policy == uint32(PolicyNormal)
		},
	}, nil
}

// newAffinityChurn pins the thread to a random CPU of its starting mask
// each step.
func newAffinityChurn(w *Worker) (Body, error) {
	cpus, err := topo.AllowedCPUs()
	if err != nil {
		return nil, err
	}
	sets := make([]unix.CPUSet, len(cpus)) // one single-CPU mask per CPU of the starting mask
	for i, c := range cpus {
		sets[i] = cpuSet(c)
	}
	return &attrChurn{w: w, spin: uint64(w.work.Int("spin_iters")), sets: "affinity_sets", errs: "affinity_errors",
		change: func(int) error { return unix.SchedSetaffinity(0, &sets[w.rand()%uint64(len(sets))]) },
	}, nil
}

// attrChurn is the body of the attribute churn types (NiceSweep,
// PolicyChurn, AffinityChurn): spin, change one scheduling attribute of
// the worker's own thread, counting the changes that took and those that
// failed, then yield, the yield a wake sample.
type attrChurn struct {
	w          *Worker
	spin       uint64
	step       int
	change     func(step int) error // sets the attribute for this step
	sets, errs string               // counters of changes that took and failed
	// reset, when set, puts the attribute back at stop and reports whether
	// that worked, which the report carries as resetOK (1 or 0).
	reset   func() bool
	resetOK string
}

func (b *attrChurn) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	if b.change(b.step) != nil {
		w.Count(b.errs, 1)
	} else {
		w.Count(b.sets, 1)
	}
	b.step++
	t0 := nanotime()
	schedYield()
	w.WakeSample(nanotime() - t0)
	return true
}

func (b *attrChurn) Finish(r *Report) {
	if b.reset == nil {
		return
	}
	r.Counters[b.resetOK] = 0
	if b.reset() {
		r.Counters[b.resetOK] = 1
	}
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
