package workload

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxSpinIters bounds *_iters parameters so one burst (about 30 ns a step)
// can never hold a worker past the stop deadline.
const maxSpinIters = 1 << 24

func itersParam(name string, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: int64(1024), Min: 0, Max: maxSpinIters, Doc: doc}
}

// sleepMsParam is a sleep between steps in milliseconds (0: none). A
// sleep is one call that the stop cannot cut short, so its maximum is what
// still lets a sleeping worker report within the stop deadline.
func sleepMsParam(name string, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: int64(100), Min: 0, Max: maxSleepMs, Doc: doc}
}

func pairs(Work) int { return 2 }

// basicTypes are the CPU primitives, the burst-and-sleep type and the two
// paired wake types the spawner ships with.
var basicTypes = []Type{
	{
		Name: "SpinWait", Ctor: "spin_wait",
		Doc: "Tight CPU spin: bursts of 1024 PAUSE steps; the default work type.",
		New: func(w *Worker) (Body, error) { return spinWait{w}, nil },
	},
	{
		Name: "YieldHeavy", Ctor: "yield_heavy",
		Doc: "One work unit then sched_yield, every iteration.",
		New: func(w *Worker) (Body, error) { return yieldHeavy{w}, nil },
	},
	{
		Name: "Mixed", Ctor: "mixed",
		Doc: "A 1024-step spin burst, then sched_yield.",
		New: func(w *Worker) (Body, error) { return mixed{w}, nil },
	},
	{
		Name: "Bursty", Ctor: "bursty",
		Doc:     "Spin for a wall-clock burst, then sleep; the whole sleep is a wake sample.",
		Example: map[string]any{"burst_duration": "100us", "sleep_duration": "100us"},
		Params: []Param{
			{Name: "burst_duration", Kind: KindDuration, Default: 50 * time.Millisecond, Doc: "wall-clock length of each spin burst"},
			{Name: "sleep_duration", Kind: KindDuration, Default: 100 * time.Millisecond, Doc: "length of each sleep (one nanosleep, resumed if interrupted)"},
		},
		Sample: SampleSleep,
		New:    func(w *Worker) (Body, error) { return newBursty(w), nil },
	},
	{
		Name: "PipeIo", Ctor: "pipe_io",
		Doc:       "Pairs spin, then exchange one byte over two pipes; each byte waited for is a one-way wake sample (the writer's stamp before its write to the reader's run).",
		Example:   map[string]any{"burst_iters": 64},
		Params:    []Param{itersParam("burst_iters", "spin steps before each exchange")},
		GroupSize: pairs,
		Pipes:     pairs,
		Region:    2 * wakeStampBytes,
		Sample:    SampleWake,
		New: func(w *Worker) (Body, error) {
			return newPipeIo(w, uint64(w.work.Int("burst_iters"))), nil
		},
	},
	{
		Name: "FutexPingPong", Ctor: "futex_ping_pong",
		Doc:       "Pairs hand a shared futex word back and forth; each real hand-off is a one-way wake sample (the waker's stamp before its FUTEX_WAKE to the woken's run).",
		Example:   map[string]any{"spin_iters": 64},
		Params:    []Param{itersParam("spin_iters", "spin steps before each hand-off")},
		GroupSize: pairs,
		Region:    8 + 2*wakeStampBytes, // the word, then each side's out-slot
		Sample:    SampleWake,
		New: func(w *Worker) (Body, error) {
			mine := uint32(w.Pos())
			w.Count(handoffsBeforeWait, 0)
			return &futexPingPong{w: w, word: w.word(0), mine: mine, theirs: 1 - mine, spin: uint64(w.work.Int("spin_iters")),
				out: w.stampAt(8 + int(mine)*wakeStampBytes), in: inbox{from: w.stampAt(8 + int(1-mine)*wakeStampBytes)}}, nil
		},
	},
}

func schedYield() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

type spinWait struct{ w *Worker }

func (b spinWait) Step() bool { b.w.SpinBurst(1024); return true }

type yieldHeavy struct{ w *Worker }

func (b yieldHeavy) Step() bool { b.w.SpinBurst(1); schedYield(); return true }

type mixed struct{ w *Worker }

func (b mixed) Step() bool { b.w.SpinBurst(1024); schedYield(); return true }

type bursty struct {
	w     *Worker
	burst int64
	sleep time.Duration
}

// newBursty reads burst_duration and sleep_duration (Bursty, IdleChurn).
func newBursty(w *Worker) *bursty {
	return &bursty{w: w, burst: int64(w.work.Duration("burst_duration")), sleep: w.work.Duration("sleep_duration")}
}

func (b *bursty) Step() bool {
	w := b.w
	spinUntil(w, nanotime()+b.burst, 1024)
	if !w.Stopped() {
		t0 := nanotime()
		sleepFull(b.sleep)
		w.WakeSample(nanotime() - t0)
	}
	return true
}

type futexPingPong struct {
	w            *Worker
	word         *uint32
	mine, theirs uint32
	spin         uint64
	out          wakeStamp
	in           inbox
}

func (b *futexPingPong) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	b.out.stamp()
	atomic.StoreUint32(b.word, b.theirs)
	futexWakeN(b.word, 1)
	// A turn handed back before this worker slept is no wake.
	for woken := false; !w.Stopped(); {
		if atomic.LoadUint32(b.word) == b.mine {
			b.in.take(w, woken)
			break
		}
		woken = futexWaitTimeout(b.word, b.theirs, stopPoll)
	}
	w.ResetGap()
	return true
}

type pipeIo struct {
	w     *Worker
	burst uint64
	gone  bool // the partner closed its end: idle until stop
	buf   [1]byte
	out   wakeStamp
	in    inbox
}

// newPipeIo prepares one side of a pipe pair; out-slots follow the
// positions in the group's region.
func newPipeIo(w *Worker, burst uint64) *pipeIo {
	w.Count(handoffsBeforeWait, 0)
	return &pipeIo{w: w, burst: burst, out: w.stampAt(w.Pos() * wakeStampBytes), in: inbox{from: w.stampAt((1 - w.Pos()) * wakeStampBytes)}}
}

func (b *pipeIo) Step() bool {
	w := b.w
	if b.gone {
		sleepFull(stopPoll)
		return true
	}
	w.SpinBurst(b.burst)
	b.exchange()
	return true
}

// exchange writes one byte to the partner and waits, bounded, for the
// partner's byte (ktstr's pipe_exchange); the byte's one-way latency is
// the wake sample.
func (b *pipeIo) exchange() {
	w := b.w
	b.buf[0] = 'x'
	b.out.stamp()
	rawWrite(w.wfd, b.buf[:])
	// The partner's byte may already be waiting: then there is no wake.
	real := b.in.waiting()
	switch w.awaitByte(b.buf[:]) {
	case byteRead:
		b.in.receive(w, real)
	case byteGone:
		// ktstr keeps sampling here; those samples would be meaningless,
		// so stop exchanging.
		b.gone = true
	}
	w.ResetGap()
}

// Outcomes of awaitByte.
const (
	byteRead    = iota // one byte read into buf
	byteStopped        // the worker was told to stop first
	byteGone           // POLLHUP or EOF: the writer is gone
)

// awaitByte reads one byte from the worker's read pipe into buf, polling
// in waits of at most stopPoll so that stop is seen; it never blocks in
// read.
func (w *Worker) awaitByte(buf []byte) int {
	for !w.Stopped() {
		rev := pollIn(w.rfd, stopPoll)
		if rev == 0 {
			continue
		}
		if rev&unix.POLLIN != 0 {
			if rawRead(w.rfd, buf[:1]) == 1 {
				return byteRead
			}
		}
		return byteGone
	}
	return byteStopped
}
