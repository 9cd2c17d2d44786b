package workload

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/topo"
)

// pressureTypes put one task under pressure from another: an SMT sibling,
// a stream of signals, a preempting or starving real-time task.
var pressureTypes = []Type{
	{
		Name: "SmtSiblingSpin", Ctor: "smt_sibling_spin",
		Doc: "Pairs spin in bursts of 1024 steps to contend for one core's SMT siblings; refuses an explicit affinity that is not one core's hardware threads.",
		// Without an explicit affinity the pair is two independent
		// spinners (ktstr's degenerate case); the smt_confined counter
		// says whether the pair really shares one core.
		GroupSize:   pairs,
		CostSamples: true,
		New:         newSmtSiblingSpin,
	},
	{
		Name: "SignalStorm", Ctor: "signal_storm",
		Doc:     "Pair partners send each other bursts of SIGUSR2 with tgkill between spin bursts; deliveries are counted in a worker process of its own (a pending standard signal absorbs repeats, so received ≤ sent).",
		Example: map[string]any{"signals_per_iter": 2, "work_iters": 64},
		Params: []Param{
			{Name: "signals_per_iter", Kind: KindInt, Default: int64(16), Min: 1, Max: 1 << 20, Doc: "tgkill calls per iteration"},
			itersParam("work_iters", "spin steps per iteration"),
		},
		GroupSize: pairs,
		Region:    16,
		New:       newSignalStorm,
	},
	{
		Name: "PreemptStorm", Ctor: "preempt_storm",
		Doc:     "Position 0 is SCHED_FIFO 1 and bursts then sleeps about a millisecond, preempting cfs_workers CFS spinners (pin the group to one CPU).",
		Example: map[string]any{"cfs_workers": 1, "rt_burst_iters": 64, "rt_sleep_us": 100},
		Params: []Param{
			groupParam("cfs_workers", 2, "CFS spinners per RT worker (the group is cfs_workers + 1)"),
			itersParam("rt_burst_iters", "spin steps per iteration, for both roles"),
			{Name: "rt_sleep_us", Kind: KindInt, Default: int64(1000), Min: 0, Max: 1_000_000, Doc: "RT worker's sleep after each burst in µs (one clock_nanosleep); 0 means it never sleeps"},
		},
		GroupSize: plusOne("cfs_workers"),
		New: func(w *Worker) (Body, error) {
			b := &preemptStorm{w: w, burst: uint64(w.work.Int("rt_burst_iters"))}
			if w.Pos() == 0 {
				if err := setPolicy("RT worker", Fifo(1)); err != nil {
					return nil, err
				}
				b.sleep = time.Duration(w.work.Int("rt_sleep_us")) * time.Microsecond
			}
			return b, nil
		},
	},
	{
		Name: "RtStarvation", Ctor: "rt_starvation",
		Doc:     "SCHED_FIFO spinners that never yield starve SCHED_NORMAL spinners (RT throttling still gives the latter a little; it stays on).",
		Example: map[string]any{"burst_iters": 64},
		Params: []Param{
			groupParam("rt_workers", 1, "SCHED_FIFO spinners per group"),
			groupParam("cfs_workers", 1, "SCHED_NORMAL spinners per group"),
			{Name: "rt_priority", Kind: KindInt, Default: int64(50), Min: 1, Max: 99, Doc: "SCHED_FIFO priority of the RT spinners"},
			itersParam("burst_iters", "spin steps per iteration"),
		},
		GroupSize: sumOf("rt_workers", "cfs_workers"),
		New: func(w *Worker) (Body, error) {
			var err error
			if int64(w.Pos()) < w.work.Int("rt_workers") {
				err = setPolicy("RT spinner", Fifo(int(w.work.Int("rt_priority"))))
			} else {
				err = applyClass("CFS spinner", "Cfs")
			}
			if err != nil {
				return nil, err
			}
			return &preemptStorm{w: w, burst: uint64(w.work.Int("burst_iters"))}, nil
		},
	},
}

// siblingsOf reads one CPU's SMT siblings from sysfs.
func siblingsOf(cpu int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu))
	if err != nil {
		return nil, fmt.Errorf("read SMT siblings of CPU %d: %w", cpu, err)
	}
	return ParseCPUList(strings.TrimSpace(string(b)))
}

// smtConfined reports whether cpus all lie on the hardware threads of one
// core that has at least two, and describes each CPU's siblings.
func smtConfined(cpus []int) (bool, string, error) {
	confined := len(cpus) > 0
	var first []int
	var desc []string
	for i, c := range cpus {
		sib, err := siblingsOf(c)
		if err != nil {
			return false, "", err
		}
		if i == 0 {
			first = sib
		}
		confined = confined && len(first) >= 2 && slices.Contains(first, c)
		desc = append(desc, fmt.Sprintf("CPU %d: %s", c, FormatCPUList(sib)))
	}
	return confined, strings.Join(desc, "; "), nil
}

func newSmtSiblingSpin(w *Worker) (Body, error) {
	cpus, err := topo.AllowedCPUs()
	if err != nil {
		return nil, err
	}
	confined, desc, err := smtConfined(cpus)
	if err != nil {
		return nil, err
	}
	if len(w.spec.CPUs) > 0 && !confined {
		return nil, fmt.Errorf("affinity %s does not confine the pair to the hardware threads of one core (SMT siblings: %s); pin each pair to one core's siblings, or inherit the affinity for two independent spinners", FormatCPUList(cpus), desc)
	}
	n := uint64(0)
	if confined {
		n = 1
	}
	w.Count("smt_confined", n)
	return smtSiblingSpin{w}, nil
}

// smtSiblingSpin samples each burst's cost into iteration_costs_ns:
// sibling interference lengthens it.
type smtSiblingSpin struct{ w *Worker }

func (b smtSiblingSpin) Step() bool {
	t0 := nanotime()
	b.w.SpinBurst(1024)
	b.w.costSample(nanotime() - t0)
	return true
}

// signalStorm: each partner publishes its tid and its process's id in
// its region slots and tgkills the other's thread, which in a thread host
// is a thread of the same process. The storm uses SIGUSR2, the stop uses
// the shared stop word and SIGUSR1 (whose Go handler only sets a flag),
// so the storm can never stop the partner.
type signalStorm struct {
	w          *Worker
	mine       *uint32
	partner    *uint32
	partnerPid *uint32
	n          int64
	work       uint64
	counted    bool
	received   uint64 // stormReceived at the last Step
	gone       bool   // the partner exited: sending again could hit a recycled tid
}

func newSignalStorm(w *Worker) (Body, error) {
	counted, err := installStormHandler()
	if err != nil {
		return nil, err
	}
	b := &signalStorm{
		w: w, mine: w.word(4 * w.Pos()), partner: w.word(4 * (1 - w.Pos())), partnerPid: w.word(8 + 4*(1-w.Pos())),
		n: w.work.Int("signals_per_iter"), work: uint64(w.work.Int("work_iters")),
		// The handler counts the deliveries to its process: one worker's
		// only when the process hosts no other.
		counted: counted && w.spec.Hosted <= 1,
	}
	atomic.StoreUint32(w.word(8+4*w.Pos()), uint32(unix.Getpid()))
	atomic.StoreUint32(b.mine, uint32(unix.Gettid()))
	w.Count("signals_sent", 0)
	w.Count("send_errors", 0)
	if b.counted {
		w.Count("signals_received", 0)
	}
	return b, nil
}

func (b *signalStorm) Step() bool {
	w := b.w
	if tid := atomic.LoadUint32(b.partner); tid != 0 && !b.gone {
		pid := atomic.LoadUint32(b.partnerPid)
		for range b.n {
			if w.Stopped() {
				break
			}
			// A thread-directed signal: a process-directed one could land
			// on any of the partner process's threads.
			if _, _, e := unix.RawSyscall(unix.SYS_TGKILL, uintptr(pid), uintptr(tid), uintptr(unix.SIGUSR2)); e != 0 {
				w.Count("send_errors", 1)
				b.gone = e == unix.ESRCH
				break
			}
			w.AddUnits(1)
			w.Count("signals_sent", 1)
		}
	}
	w.SpinBurst(b.work)
	if b.counted {
		r := stormReceived()
		w.Count("signals_received", r-b.received)
		b.received = r
	}
	w.ResetGap()
	return true
}

// Close clears this worker's tid slot so the partner stops sending to it.
func (b *signalStorm) Close() { atomic.StoreUint32(b.mine, 0) }

// preemptStorm is a spinner that, with a sleep set (PreemptStorm's RT
// worker), sleeps after each burst; RtStarvation's spinners use it too.
type preemptStorm struct {
	w     *Worker
	burst uint64
	sleep time.Duration
}

func (b *preemptStorm) Step() bool {
	b.w.SpinBurst(b.burst)
	if b.sleep > 0 && !b.w.Stopped() {
		nanosleep(b.sleep)
	}
	b.w.ResetGap()
	return true
}
