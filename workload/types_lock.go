package workload

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Priority-inheritance futex operations (shared, not PRIVATE: the
// contenders are separate processes of one pid namespace, and the lock
// word holds the owner's tid).
const (
	futexLockPI   = 6
	futexUnlockPI = 7
)

// maxQueueDepth bounds ProducerConsumerImbalance's ring. The region is
// sized for it, so worker and spawner share one clamp (the parameter's
// Max); pages of the ring that a smaller queue never touches cost nothing.
const maxQueueDepth = 1 << 16

// Lock tiers of PriorityInversion: SCHED_FIFO priorities, high to low.
const (
	prioHigh   = 70
	prioMedium = 50
	prioLow    = 30
)

// lockTypes are the lock-convoy types: a plain futex mutex, a
// priority-inversion triangle and a bounded producer/consumer ring.
var lockTypes = []Type{
	{
		Name: "MutexContention", Ctor: "mutex_contention",
		Doc:     "contenders workers fight over one futex lock word; each contended FUTEX_WAIT is a wake sample.",
		Example: map[string]any{"contenders": 3, "hold_iters": 64, "work_iters": 64},
		Params: []Param{
			groupParam("contenders", 4, "workers sharing one lock (the group size)"),
			spinParam("hold_iters", 256, "spin steps inside the critical section"),
			itersParam("work_iters", "spin steps outside the lock"),
		},
		GroupSize: sumOf("contenders"),
		Region:    8,
		Sample:    SampleLock,
		New: func(w *Worker) (Body, error) {
			return &mutexContention{lock: newPlainLock(w), work: uint64(w.work.Int("work_iters")), hold: uint64(w.work.Int("hold_iters"))}, nil
		},
	},
	{
		Name: "PriorityInversion", Ctor: "priority_inversion",
		Doc:     "High (FIFO 70) and low (FIFO 30) tiers share a lock while a medium tier (FIFO 50) spins; pi_mode = \"Pi\" uses FUTEX_LOCK_PI so the holder is boosted.",
		Example: map[string]any{"medium_count": 0, "hold_iters": 64, "work_iters": 64},
		Params: []Param{
			groupParam("high_count", 1, "high-tier (SCHED_FIFO 70) lock users per group"),
			{Name: "medium_count", Kind: KindInt, Default: int64(1), Min: 0, Max: maxGroupParam, Doc: "medium-tier (SCHED_FIFO 50) spinners per group; 0 is a control without the preempting tier"},
			groupParam("low_count", 1, "low-tier (SCHED_FIFO 30) lock users per group"),
			spinParam("hold_iters", 4096, "spin steps inside the critical section (the high tier spins work_iters there in Plain mode, as ktstr does)"),
			itersParam("work_iters", "spin steps outside the lock"),
			{Name: "pi_mode", Kind: KindEnum, Default: "Plain", Choices: []string{"Pi", "Plain"}, Doc: `"Pi": FUTEX_LOCK_PI/UNLOCK_PI (the kernel boosts the holder); "Plain": CAS and FUTEX_WAIT/WAKE`},
		},
		GroupSize: sumOf("high_count", "medium_count", "low_count"),
		Region:    8,
		Sample:    SampleLock,
		New:       newPriorityInversion,
	},
	{
		Name: "ProducerConsumerImbalance", Ctor: "producer_consumer_imbalance",
		Doc:     "Rate-paced producers and CPU-bound consumers share a bounded ring; full- and empty-queue FUTEX_WAITs are wake samples.",
		Example: map[string]any{"produce_rate_hz": 0, "queue_depth_target": 8, "consume_iters": 64},
		Params: []Param{
			groupParam("producers", 2, "producers per group"),
			groupParam("consumers", 1, "consumers per group"),
			{Name: "produce_rate_hz", Kind: KindInt, Default: int64(1000), Min: 0, Max: 1_000_000_000, Doc: "items per second per producer (one nanosleep after each); 0 means unpaced"},
			itersParam("consume_iters", "spin steps per consumed item"),
			{Name: "queue_depth_target", Kind: KindInt, Default: int64(1024), Min: 1, Max: maxQueueDepth, Doc: "ring slots per group"},
		},
		GroupSize: sumOf("producers", "consumers"),
		Region:    pcRing + 8*maxQueueDepth,
		Sample:    SampleWait,
		New:       newProducerConsumer,
	},
}

// plainLock is a futex mutex on region word 0 (0 free, 1 held), with an
// owner word at 4 that holders check so a broken lock shows up as
// violations rather than as quietly wrong numbers.
type plainLock struct {
	w           *Worker
	word, owner *uint32
	me          uint32
}

func newPlainLock(w *Worker) plainLock {
	for _, c := range []string{"acquisitions", "contended", "violations"} {
		w.Count(c, 0)
	}
	return plainLock{w: w, word: w.word(0), owner: w.word(4), me: uint32(w.Pos()) + 1}
}

// acquire takes the lock (CAS 0→1) or gives up at stop. Every FUTEX_WAIT
// is a wake sample, timeouts included, as in ktstr.
func (l plainLock) acquire() bool {
	w := l.w
	waited := false
	for !w.Stopped() {
		if atomic.CompareAndSwapUint32(l.word, 0, 1) {
			l.enter(waited)
			return true
		}
		waited = true
		t0 := nanotime()
		futexWaitTimeout(l.word, 1, stopPoll)
		w.WakeSample(nanotime() - t0)
	}
	return false
}

// release frees the lock and wakes one waiter (unconditionally: the lock
// has no contended state).
func (l plainLock) release() {
	l.leave()
	atomic.StoreUint32(l.word, 0)
	futexWakeN(l.word, 1)
}

// enter and leave bracket a critical section: another owner found there
// is a mutual-exclusion violation.
func (l plainLock) enter(contended bool) {
	if atomic.SwapUint32(l.owner, l.me) != 0 {
		l.w.Count("violations", 1)
	}
	l.w.Count("acquisitions", 1)
	if contended {
		l.w.Count("contended", 1)
	}
}

func (l plainLock) leave() { atomic.CompareAndSwapUint32(l.owner, l.me, 0) }

type mutexContention struct {
	lock       plainLock
	work, hold uint64
}

func (b *mutexContention) Step() bool {
	w := b.lock.w
	w.SpinBurst(b.work)
	// At stop without the lock, skip the critical section (ktstr would
	// release a lock it does not hold).
	if b.lock.acquire() {
		w.SpinBurst(b.hold)
		b.lock.release()
	}
	w.ResetGap()
	return true
}

// Tier of a PriorityInversion position.
const (
	tierHigh = iota
	tierMedium
	tierLow
)

type priorityInversion struct {
	lock       plainLock
	tier       int
	pi         bool
	tid        uint32
	work, hold uint64
}

func newPriorityInversion(w *Worker) (Body, error) {
	high, medium := int(w.work.Int("high_count")), int(w.work.Int("medium_count"))
	b := &priorityInversion{
		lock: newPlainLock(w),
		pi:   w.work.Enum("pi_mode") == "Pi",
		tid:  uint32(unix.Gettid()),
		work: uint64(w.work.Int("work_iters")),
		hold: uint64(w.work.Int("hold_iters")),
	}
	var err error
	switch pos := w.Pos(); {
	case pos < high:
		b.tier = tierHigh
		err = setPolicy("high tier", Fifo(prioHigh))
		if !b.pi {
			b.hold = b.work // ktstr's high tier holds for work_iters in Plain mode
		}
	case pos < high+medium:
		b.tier = tierMedium
		err = setPolicy("medium tier", Fifo(prioMedium))
	default:
		b.tier = tierLow
		err = setPolicy("low tier", Fifo(prioLow))
	}
	if err != nil {
		return nil, err
	}
	w.Count("lock_errors", 0)
	return b, nil
}

func (b *priorityInversion) Step() bool {
	w := b.lock.w
	w.SpinBurst(b.work)
	switch {
	case b.tier == tierMedium:
	case b.pi:
		if b.lockPI() {
			w.SpinBurst(b.hold)
			b.lock.leave()
			b.unlockPI()
		}
	case b.lock.acquire():
		w.SpinBurst(b.hold)
		b.lock.release()
	}
	w.ResetGap()
	return true
}

// lockPI takes the PI lock, in waits of at most stopPoll so stop is seen;
// the kernel writes our tid into the word and boosts the owner while we
// wait. It returns false at stop.
func (b *priorityInversion) lockPI() bool {
	w := b.lock.w
	waited := false
	for !w.Stopped() {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME, &ts) // FUTEX_LOCK_PI's timeout is absolute CLOCK_REALTIME
		ts = unix.NsecToTimespec(ts.Nano() + int64(stopPoll))
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(b.lock.word)), futexLockPI, 0, uintptr(unsafe.Pointer(&ts)), 0, 0)
		switch e {
		case 0:
			b.lock.enter(waited)
			return true
		case unix.ETIMEDOUT, unix.EINTR, unix.EAGAIN:
			waited = true
		default:
			// ESRCH and friends: the owner died holding the lock. Count
			// it and retry at the stop-poll pace until stop.
			w.Count("lock_errors", 1)
			sleepFull(stopPoll)
		}
	}
	return false
}

func (b *priorityInversion) unlockPI() {
	if _, _, e := unix.Syscall(unix.SYS_FUTEX, uintptr(unsafe.Pointer(b.lock.word)), futexUnlockPI, 0); e != 0 {
		b.lock.w.Count("lock_errors", 1)
	}
}

// ProducerConsumerImbalance's region: head and tail counters, the wake
// sequence words, the publish cursor, then the ring of u64 items.
const (
	pcHead    = 0
	pcTail    = 8
	pcProdSeq = 16 // bumped by consumers; producers wait on it when full
	pcConsSeq = 20 // bumped by producers; consumers wait on it when empty
	pcPublish = 24 // items below it are written and may be consumed
	pcRing    = 32
)

// producerConsumer is one producer or consumer. Unlike ktstr, which runs
// each role's inner loop inside one outer pass, every item is one Step, so
// iterations still counts items while the loop tail (progress, gaps,
// migrations) keeps running. Consumers take items with a CAS on tail, so
// each item is consumed exactly once (ktstr's load/store can duplicate).
type producerConsumer struct {
	w                   *Worker
	head, tail, publish *uint64
	prodSeq, consSeq    *uint32
	ring                []uint64
	producer            bool
	pace                time.Duration
	consume             uint64
	next                uint64 // the next item a producer writes
	pause               uint64 // scratch for spin's PAUSE while publishing in order
	depth               uint64
}

func newProducerConsumer(w *Worker) (Body, error) {
	q := uint64(w.work.Int("queue_depth_target"))
	b := &producerConsumer{
		w:        w,
		head:     (*uint64)(unsafe.Pointer(&w.region[pcHead])),
		tail:     (*uint64)(unsafe.Pointer(&w.region[pcTail])),
		publish:  (*uint64)(unsafe.Pointer(&w.region[pcPublish])),
		prodSeq:  w.word(pcProdSeq),
		consSeq:  w.word(pcConsSeq),
		ring:     unsafe.Slice((*uint64)(unsafe.Pointer(&w.region[pcRing])), q),
		producer: int64(w.Pos()) < w.work.Int("producers"),
		consume:  uint64(w.work.Int("consume_iters")),
		depth:    q,
	}
	if hz := w.work.Int("produce_rate_hz"); hz > 0 {
		b.pace = time.Second / time.Duration(hz)
	}
	if b.producer {
		w.Count("produced", 0)
	} else {
		w.Count("consumed", 0)
	}
	return b, nil
}

func (b *producerConsumer) Step() bool {
	if b.producer {
		b.produce()
	} else {
		b.take()
	}
	b.w.ResetGap()
	return true
}

func (b *producerConsumer) produce() {
	w := b.w
	var h uint64
	for {
		if w.Stopped() {
			return
		}
		// Read the wake word before the check, so a consumer's bump
		// between the check and the wait makes the wait return at once.
		e := atomic.LoadUint32(b.prodSeq)
		h = atomic.LoadUint64(b.head)
		if h-atomic.LoadUint64(b.tail) >= b.depth {
			t0 := nanotime()
			futexWaitTimeout(b.prodSeq, e, stopPoll)
			w.WakeSample(nanotime() - t0)
			continue
		}
		if atomic.CompareAndSwapUint64(b.head, h, h+1) {
			break
		}
	}
	atomic.StoreUint64(&b.ring[h%b.depth], b.next)
	b.next++
	// Publish in reservation order: wait for the producers that reserved
	// earlier slots (a dead one stalls this until stop).
	for atomic.LoadUint64(b.publish) != h {
		if w.Stopped() {
			return
		}
		spin(&b.pause, 1)
	}
	atomic.StoreUint64(b.publish, h+1)
	atomic.AddUint32(b.consSeq, 1)
	futexWakeN(b.consSeq, 1)
	w.AddUnits(1)
	w.Count("produced", 1)
	if b.pace > 0 && !w.Stopped() {
		nanosleep(b.pace)
	}
}

func (b *producerConsumer) take() {
	w := b.w
	for {
		if w.Stopped() {
			return
		}
		e := atomic.LoadUint32(b.consSeq)
		t := atomic.LoadUint64(b.tail)
		if atomic.LoadUint64(b.publish) != t {
			// Read before claiming: once tail moves past t a producer may
			// overwrite the slot.
			atomic.LoadUint64(&b.ring[t%b.depth])
			if atomic.CompareAndSwapUint64(b.tail, t, t+1) {
				break
			}
			continue
		}
		t0 := nanotime()
		futexWaitTimeout(b.consSeq, e, stopPoll)
		w.WakeSample(nanotime() - t0)
	}
	atomic.AddUint32(b.prodSeq, 1)
	futexWakeN(b.prodSeq, 1)
	w.Count("consumed", 1)
	w.SpinBurst(b.consume)
}
