package workload

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxSpinIters bounds *_iters parameters so one burst (about 30 ns a step)
// can never hold a worker past the stop deadline.
const maxSpinIters = 1 << 24

func itersParam(name string, doc string) Param { return spinParam(name, 1024, doc) }

// spinParam is a count of spin steps (0: none), at most maxSpinIters.
func spinParam(name string, def int64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: def, Min: 0, Max: maxSpinIters, Doc: doc}
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
		Samples: true,
		New:     func(w *Worker) (Body, error) { return newBursty(w), nil },
	},
	{
		Name: "PipeIo", Ctor: "pipe_io",
		Doc:       "Pairs spin, then exchange one byte over two pipes; the wait for the partner's byte is a wake sample.",
		Example:   map[string]any{"burst_iters": 64},
		Params:    []Param{itersParam("burst_iters", "spin steps before each exchange")},
		GroupSize: pairs,
		Pipes:     pairs,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			return &pipeIo{w: w, burst: uint64(w.work.Int("burst_iters"))}, nil
		},
	},
	{
		Name: "FutexPingPong", Ctor: "futex_ping_pong",
		Doc:       "Pairs hand a shared futex word back and forth; the wait for one's turn is a wake sample.",
		Example:   map[string]any{"spin_iters": 64},
		Params:    []Param{itersParam("spin_iters", "spin steps before each hand-off")},
		GroupSize: pairs,
		Region:    4,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			mine := uint32(w.Pos())
			return &futexPingPong{w: w, word: w.word(0), mine: mine, theirs: 1 - mine, spin: uint64(w.work.Int("spin_iters"))}, nil
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
}

func (b *futexPingPong) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	atomic.StoreUint32(b.word, b.theirs)
	futexWakeN(b.word, 1)
	t0 := nanotime()
	for !w.Stopped() {
		if atomic.LoadUint32(b.word) == b.mine {
			w.WakeSample(nanotime() - t0)
			break
		}
		futexWaitTimeout(b.word, b.theirs, stopPoll)
	}
	w.ResetGap()
	return true
}

type pipeIo struct {
	w     *Worker
	burst uint64
	pipeLink
}

func (b *pipeIo) Step() bool {
	w := b.w
	if b.idle() {
		return true
	}
	w.SpinBurst(b.burst)
	b.exchange()
	return true
}

// exchange writes one byte to the partner and waits, bounded, for the
// partner's byte; the wait is the wake sample (ktstr's pipe_exchange).
func (b *pipeIo) exchange() {
	w := b.w
	b.send(w, 'x')
	t0 := nanotime()
	// Once the partner is gone, ktstr keeps sampling; those samples
	// would be meaningless, so the exchanges stop.
	if b.await(w) == byteRead {
		w.WakeSample(nanotime() - t0)
	}
	w.ResetGap()
}

// pipeLink is a worker's place in a ring of pipes (Type.Pipes): a
// one-byte buffer, and whether the other side has gone.
type pipeLink struct {
	gone bool // the other side closed its end: idle until stop
	buf  [1]byte
}

// idle reports whether the other side has gone, after waiting one stop
// poll if so.
func (l *pipeLink) idle() bool {
	if l.gone {
		sleepFull(stopPoll)
	}
	return l.gone
}

// send writes c to the next member.
func (l *pipeLink) send(w *Worker, c byte) {
	l.buf[0] = c
	rawWrite(w.wfd, l.buf[:])
}

// await reads the previous member's byte into buf (awaitByte) and notes
// when that member is gone.
func (l *pipeLink) await(w *Worker) int {
	r := w.awaitByte(l.buf[:])
	l.gone = l.gone || r == byteGone
	return r
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
