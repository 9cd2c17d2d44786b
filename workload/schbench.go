package workload

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/hist"
)

// Schbench runs upstream's threads inside the worker process: the worker's
// own thread is schbench's main thread (Step is one pass of its reporting
// loop, cut into waits of at most stopPoll), and every message and worker
// thread is a goroutine locked to an OS thread of its own, with its own
// affinity, policy and comm. Differences from upstream, all from spec
// A.15: waits retry on EINTR and are bounded so stop is prompt; a wake
// that ends the run is not a latency sample; merges ignore an empty
// histogram's min; RPS has no sample at t = 0; sched delay is read in each
// thread before it exits; a fixed-rate injector bursts each second's
// requests at the top of the second, as upstream does.
const (
	sbBlocked    = 0   // handshake word: the owner waits (or is about to)
	sbRunning    = 1   // handshake word: posted, not yet consumed
	futexPrivate = 128 // FUTEX_PRIVATE_FLAG: every waiter is in this process
	sbLockStride = 48  // glibc's mutex slot on x86-64: neighbours share lines
	sbPendingMax = 128 // RPS: a worker with more queued requests is skipped
	usecPerSec   = 1_000_000
)

// sbThread is one message or worker thread's state (upstream's
// thread_data). Fields another thread touches are atomic.
type sbThread struct {
	futex     uint32       // handshake word, beside the wake stamp as upstream
	wakeUs    atomic.Int64 // the waker's timestamp, µs
	next      atomic.Pointer[sbThread]
	head      atomic.Pointer[sbThread] // message thread: workers waiting to be woken
	reqs      atomic.Int64             // worker, RPS: requests queued by the injector
	pending   atomic.Int64             // worker, RPS: the injector's backlog count
	loops     atomic.Uint64            // worker: completed requests
	runUs     atomic.Int64             // worker: time since it started, µs
	pageW     atomic.Uint64            // pipe pages this thread filled
	contended atomic.Uint64            // worker: requests that found their CPU's lock held
	issued    atomic.Uint64            // injector: requests queued
	skipped   atomic.Uint64            // injector: requests dropped for a backlog

	wakeup, request *hist.Hist
	data            []uint64 // worker: private matrices
	page            []byte   // pipe page
	msg             *sbThread
	workers         []*sbThread
	cpus            unix.CPUSet
	comm            string
	tid             atomic.Int64
	delayNs, slices uint64 // own schedstat just before exit
}

type schbench struct {
	w                       *Worker
	m, t                    int
	ops, opsShared          int
	n, privN, sharedN       int
	shared                  []uint64
	split, skipLock, calib  bool
	sleep                   time.Duration
	pipe                    int
	rpsMode                 bool
	auto                    int64
	rate                    atomic.Int64 // per message thread, requests per second
	warmup, interval, zero  int64        // µs
	locks                   []byte
	nlocks                  int
	cpu                     func() int
	team                    *threadTeam
	msgs, workers, all      []*sbThread
	statFd                  int
	statBuf                 [512]byte
	total, idle             uint64
	hit                     bool
	rps, mergedW, mergedR   *hist.Hist
	started                 bool
	startUs, stopUs, nextUs int64
	lastRPSUs, lastCalcUs   int64
	zeroUs                  int64
	lastLoops, units        uint64
	warmupDone              bool
	intervals               []SchbenchInterval
}

func nowUs() int64 { return nanotime() / 1000 }

func newSchbench(w *Worker) (Body, error) {
	wk := w.Work()
	s := &schbench{
		w: w, m: int(wk.Int("message_threads")), t: int(wk.Int("worker_threads")),
		ops: int(wk.Int("operations")), sleep: time.Duration(wk.Int("sleep_usec")) * time.Microsecond,
		skipLock: wk.Bool("skip_locking") || wk.Bool("calibrate"), calib: wk.Bool("calibrate"),
		pipe: int(wk.Int("pipe_bytes")), auto: wk.Int("auto_rps"),
		warmup: wk.Int("warmup_secs") * usecPerSec, interval: wk.Int("interval_secs") * usecPerSec,
		zero: wk.Int("zero_secs") * usecPerSec, cpu: cpuReader(), statFd: -1,
		rps: hist.MustNew(hist.Schbench), mergedW: hist.MustNew(hist.Schbench), mergedR: hist.MustNew(hist.Schbench),
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	if s.t == 0 {
		s.t = (allowed.Count() + s.m - 1) / s.m
	}
	if err := s.sizeMatrices(int(wk.Int("cache_footprint_kib")), int(wk.Int("split_percent"))); err != nil {
		return nil, err
	}
	total := wk.Int("requests_per_sec")
	if s.auto > 0 && total == 0 {
		total = 10
	}
	s.rpsMode = total > 0
	s.rate.Store(total / int64(s.m))
	workerSet := sbCPUSet(wk.Ints("worker_cpus"), allowed)
	top := sbTopCPU(allowed)
	for _, c := range slices.Concat(wk.Ints("worker_cpus"), wk.Ints("message_cpus")) {
		top = max(top, int(c))
	}
	s.nlocks = top + 1
	s.locks = make([]byte, s.nlocks*sbLockStride)
	var err error
	if s.team, err = newThreadTeam(s.m * (s.t + 1)); err != nil {
		return nil, err
	}
	if s.auto > 0 {
		if s.statFd, err = unix.Open("/proc/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			s.statFd = -1
			s.team.close()
			return nil, fmt.Errorf("auto_rps: open /proc/stat: %w", err)
		}
	}
	msgCPUs := wk.Ints("message_cpus")
	for i := range s.m {
		mt := &sbThread{comm: "schbench-msg", cpus: allowed}
		if len(msgCPUs) > 0 {
			mt.cpus.Zero()
			mt.cpus.Set(int(msgCPUs[i%len(msgCPUs)]))
		}
		if s.pipe > 0 {
			mt.page = make([]byte, s.pipe)
		}
		for range s.t {
			wt := &sbThread{comm: "schbench-worker", cpus: workerSet, msg: mt,
				wakeup: hist.MustNew(hist.Schbench), request: hist.MustNew(hist.Schbench)}
			if s.pipe > 0 {
				wt.page = make([]byte, s.pipe)
			}
			mt.workers = append(mt.workers, wt)
			s.workers = append(s.workers, wt)
		}
		s.msgs = append(s.msgs, mt)
	}
	s.all = append(append([]*sbThread{}, s.msgs...), s.workers...)
	for _, th := range s.msgs {
		body := s.messenger
		if s.rpsMode {
			body = s.injector
		}
		s.team.spawn(th.comm, &th.cpus, s.setup(th), s.run(th, body))
	}
	for _, th := range s.workers {
		s.team.spawn(th.comm, &th.cpus, s.setup(th), s.run(th, s.worker))
	}
	if err := s.team.wait(); err != nil {
		s.Close()
		if len(msgCPUs) > 0 || len(wk.Ints("worker_cpus")) > 0 {
			err = fmt.Errorf("%w (message_cpus = %s, worker_cpus = %s: each CPU must be online and in the worker's affinity)",
				err, KindInts.spec().format(msgCPUs), KindInts.spec().format(wk.Ints("worker_cpus")))
		}
		return nil, err
	}
	return s, nil
}

// sizeMatrices applies -F and --split: n = floor(sqrt(KiB·1024/3/8)).
func (s *schbench) sizeMatrices(kib, split int) error {
	side := func(kib int) int { return int(math.Sqrt(float64(kib * 1024 / 3 / 8))) }
	s.split = split < 100
	if !s.split {
		s.n, s.privN = side(kib), side(kib)
		return nil
	}
	s.privN, s.sharedN = side(kib*split/100), side(kib*(100-split)/100)
	private := s.ops * split / 100
	s.opsShared = s.ops - private
	s.ops = private
	var err error
	s.shared, err = sbMatrices(s.sharedN)
	return err
}

// sbMatrices returns three n×n matrices in untouched anonymous memory, as
// upstream's malloc gives them (mmap'd or fresh from the kernel): A and B
// are only ever read, so every page of theirs is the kernel's zero page
// and only C takes real memory, which is part of what upstream measures.
func sbMatrices(n int) ([]uint64, error) {
	if n == 0 {
		return nil, nil
	}
	mem, err := unix.Mmap(-1, 0, 3*n*n*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("map %d×%d matrices (%d KiB): %w", n, n, 3*n*n*8/1024, err)
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), 3*n*n), nil
}

// sbFree unmaps what sbMatrices mapped.
func sbFree(m []uint64) {
	if len(m) > 0 {
		unix.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&m[0])), len(m)*8))
	}
}

// sbCPUSet is list as a CPU set, or all of allowed when list is empty.
func sbCPUSet(list []int64, allowed unix.CPUSet) unix.CPUSet {
	if len(list) == 0 {
		return allowed
	}
	var set unix.CPUSet
	for _, c := range list {
		set.Set(int(c))
	}
	return set
}

func sbTopCPU(set unix.CPUSet) int {
	top := 0
	for c := range 1024 {
		if set.IsSet(c) {
			top = c
		}
	}
	return top
}

// run is th's thread: its role's loop, then its own schedstat.
func (s *schbench) run(th *sbThread, body func(*sbThread)) func() {
	return func() {
		body(th)
		if ss, err := readSchedstat(int(th.tid.Load())); err == nil {
			th.delayNs, th.slices = ss.RunDelayNs, ss.RunCount
		}
	}
}

// setup runs on th's thread before the gate.
func (s *schbench) setup(th *sbThread) func() error {
	return func() error {
		th.tid.Store(int64(unix.Gettid()))
		var err error
		if th.msg != nil {
			th.data, err = sbMatrices(s.privN)
		}
		return err
	}
}
