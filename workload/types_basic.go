package workload

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxSpinIters bounds *_iters parameters: one burst is about half a
// second at full speed (30 ns a step), and SpinBurst cuts it at the stop.
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
			b := &futexPingPong{w: w, word: w.word(0), mine: mine, theirs: 1 - mine, spin: uint64(w.work.Int("spin_iters"))}
			b.out, b.in = w.ringStamps(8, 2)
			return b, nil
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
// partner's byte (ktstr's pipe_exchange); the byte's one-way latency is
// the wake sample.
func (b *pipeIo) exchange() {
	w := b.w
	b.send(w, 'x')
	// Once the partner is gone, ktstr keeps sampling; those samples
	// would be meaningless, so the exchanges stop.
	b.await(w)
	w.ResetGap()
}

// newPipeIo prepares one side of a pipe pair, whose out-slots fill the
// group's region.
func newPipeIo(w *Worker, burst uint64) *pipeIo {
	return &pipeIo{w: w, burst: burst, pipeLink: newPipeLink(w, 0, 2)}
}

// pipeLink is a worker's place in a ring of pipes (Type.Pipes): a
// one-byte buffer, whether the other side has gone, and the out-slots of
// one-way wake latency (oneway.go).
type pipeLink struct {
	gone bool // the other side closed its end: idle until stop
	buf  [1]byte
	out  wakeStamp // stamped right before each send
	in   inbox     // the previous member's out-slot
}

// newPipeLink places worker w in a ring of n members whose out-slots lie
// in its group's region from byte base on (ringStamps).
func newPipeLink(w *Worker, base, n int) pipeLink {
	var l pipeLink
	l.out, l.in = w.ringStamps(base, n)
	return l
}

// idle reports whether the other side has gone, after waiting one stop
// poll if so.
func (l *pipeLink) idle() bool {
	if l.gone {
		sleepFull(stopPoll)
	}
	return l.gone
}

// send stamps the hand-off and writes c to the next member.
func (l *pipeLink) send(w *Worker, c byte) {
	l.buf[0] = c
	l.out.stamp()
	rawWrite(w.wfd, l.buf[:])
}

// await reads the previous member's byte into buf (awaitByte) and notes
// when that member is gone. A byte it had not yet sent when the wait began
// is a one-way wake sample; one already sent is no wake.
func (l *pipeLink) await(w *Worker) int {
	real := l.in.waiting()
	r := w.awaitByte(l.buf[:])
	l.gone = l.gone || r == byteGone
	if r == byteRead {
		l.in.receive(w, real)
	}
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
