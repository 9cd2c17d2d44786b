package workload

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGroupParam bounds every parameter that sets a group's size, so one
// spawn cannot ask for an absurd number of processes by accident.
const maxGroupParam = 1024

// groupParam is a parameter counting workers of one role in a group. Zero
// is refused: a group without that role would not do what the type says.
func groupParam(name string, def int64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: def, Min: 1, Max: maxGroupParam, Doc: doc}
}

// sumOf returns a GroupSize that adds the named int parameters.
func sumOf(names ...string) func(Work) int {
	return func(w Work) int {
		n := 0
		for _, name := range names {
			n += int(w.Int(name))
		}
		return n
	}
}

// plusOne returns a GroupSize of the named parameter plus one leader.
func plusOne(name string) func(Work) int {
	return func(w Work) int { return int(w.Int(name)) + 1 }
}

// wakeAll is FUTEX_WAKE's largest count: every waiter.
const wakeAll = math.MaxInt32

// wakeTypes are the wake-placement types: pairs, fan-outs, chains, herds
// and an epoll storm, each blocking on a bounded wait that is sampled.
var wakeTypes = []Type{
	{
		Name: "CachePipe", Ctor: "cache_pipe",
		Doc: "Pairs do a cache-hot read-modify-write burst (stride 64), then PipeIo's one-byte exchange; the wait for the partner's byte is a wake sample.",
		Params: []Param{
			{Name: "size_kb", Kind: KindInt, Default: int64(32), Min: 0, Max: 1 << 20, Aliases: []string{"size_kib"}, Doc: "buffer size in KiB; 0 means no cache work"},
			itersParam("burst_iters", "read-modify-write steps before each exchange"),
		},
		GroupSize: pairs,
		Pipes:     pairs,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			return &cachePipe{pipeIo: pipeIo{w: w}, buf: make([]byte, w.work.Int("size_kb")*1024), steps: uint64(w.work.Int("burst_iters"))}, nil
		},
	},
	{
		Name: "FutexFanOut", Ctor: "futex_fan_out",
		Doc: "One messenger advances a shared generation word and wakes fan_out receivers; a receiver's wait for the advance is a wake sample.",
		Params: []Param{
			groupParam("fan_out", 4, "receivers per messenger (the group is fan_out + 1)"),
			itersParam("spin_iters", "spin steps before each advance (messenger) or wait (receiver)"),
		},
		GroupSize: plusOne("fan_out"),
		Region:    4,
		Messenger: true,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			w.Count("last_generation", 0)
			return &futexFanOut{w: w, gen: w.word(0), fanOut: int(w.work.Int("fan_out")), spin: uint64(w.work.Int("spin_iters")),
				counter: roleCounter(w, "generations", "generations_seen")}, nil
		},
	},
	{
		Name: "FanOutCompute", Ctor: "fan_out_compute",
		Doc: "A messenger stamps the time and wakes fan_out receivers; each measures stamp-to-wake, sleeps, then multiplies matrices (schbench-like).",
		Params: []Param{
			groupParam("fan_out", 4, "receivers per messenger (the group is fan_out + 1)"),
			{Name: "cache_footprint_kb", Kind: KindInt, Default: int64(256), Min: 0, Max: 1 << 20, Aliases: []string{"cache_footprint_kib"}, Doc: "size of the three matrices in KiB; 0 means no matrix work"},
			{Name: "operations", Kind: KindInt, Default: int64(5), Min: 0, Max: 1 << 20, Doc: "matrix multiplications per wake; 0 means no matrix work"},
			{Name: "sleep_usec", Kind: KindInt, Default: int64(100), Min: 0, Max: 1_000_000, Doc: "think time after each wake in µs (one nanosleep); 0 means none"},
		},
		GroupSize: plusOne("fan_out"),
		Region:    16,
		Messenger: true,
		Samples:   true,
		New:       newFanOutCompute,
	},
	{
		Name: "AsymmetricWaker", Ctor: "asymmetric_waker",
		Doc: "A waker in one scheduling class bumps a futex counter for a wakee in another; the wakee's wait is a wake sample.",
		Params: []Param{
			{Name: "waker_class", Kind: KindEnum, Default: "Cfs", Choices: schedClasses, Doc: "scheduling class of position 0, the waker"},
			{Name: "wakee_class", Kind: KindEnum, Default: "Cfs", Choices: schedClasses, Doc: "scheduling class of position 1, the wakee"},
			itersParam("burst_iters", "spin steps per wake (waker) and after each wake (wakee)"),
		},
		GroupSize: pairs,
		Region:    4,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			param := "waker_class"
			if w.Pos() == 1 {
				param = "wakee_class"
			}
			if err := applyClass(param, w.work.Enum(param)); err != nil {
				return nil, err
			}
			return &asymmetricWaker{w: w, word: w.word(0), burst: uint64(w.work.Int("burst_iters")),
				counter: roleCounter(w, "wakes", "wakes_seen")}, nil
		},
	},
	{
		Name: "WakeChain", Ctor: "wake_chain",
		Doc: "A ring of depth stages passes one token: each waits for its predecessor, works, wakes its successor; each wait is a wake sample.",
		Params: []Param{
			groupParam("depth", 4, "stages per chain (the group size)"),
			{Name: "wake", Kind: KindEnum, Default: "Pipe", Choices: []string{"Pipe", "Futex"}, Doc: `hop primitive: "Pipe" (a byte through a pipe, a sync wake) or "Futex" (a shared stage word and a broadcast wake)`},
			{Name: "work_per_hop", Kind: KindDuration, Default: 100 * time.Microsecond, Doc: "wall-clock spin of each stage while it holds the token"},
		},
		GroupSize: func(w Work) int { return int(w.Int("depth")) },
		Validate: func(w Work) error {
			if w.Enum("wake") == "Pipe" && w.Int("depth") < 2 {
				return fmt.Errorf(`depth = %d: wake = "Pipe" needs depth >= 2 (one stage would write to its own pipe); use wake = "Futex" for a one-stage chain`, w.Int("depth"))
			}
			return nil
		},
		Pipes: func(w Work) int {
			if w.Enum("wake") == "Pipe" {
				return int(w.Int("depth"))
			}
			return 0
		},
		Region:  4,
		Samples: true,
		New: func(w *Worker) (Body, error) {
			w.Count("hops", 0)
			b := &wakeChain{w: w, stage: uint32(w.Pos()), depth: uint32(w.work.Int("depth")), hop: int64(w.work.Duration("work_per_hop"))}
			if w.work.Enum("wake") == "Pipe" {
				return &wakeChainPipe{wakeChain: *b}, nil
			}
			b.word = w.word(0)
			return b, nil
		},
	},
	{
		Name: "EpollStorm", Ctor: "epoll_storm",
		Doc: "Producers write bursts to a shared eventfd; consumers block in epoll_wait on it; each consumer wake is a wake sample.",
		Params: []Param{
			groupParam("producers", 1, "eventfd writers per group"),
			groupParam("consumers", 2, "epoll waiters per group"),
			{Name: "events_per_burst", Kind: KindInt, Default: int64(32), Min: 1, Max: 1 << 20, Doc: "eventfd writes per producer iteration"},
		},
		GroupSize:  sumOf("producers", "consumers"),
		GroupFiles: epollStormFiles,
		Samples:    true,
		New: func(w *Worker) (Body, error) {
			b := &epollStorm{w: w, efd: w.GroupFD(0), epfd: w.GroupFD(1), producer: int64(w.Pos()) < w.work.Int("producers"), burst: w.work.Int("events_per_burst")}
			if b.efd < 0 || b.epfd < 0 {
				return nil, fmt.Errorf("missing the group's eventfd and epoll descriptors")
			}
			if b.producer {
				w.Count("events_produced", 0)
			} else {
				w.Count("events_consumed", 0)
				w.Count("lost_races", 0)
			}
			return b, nil
		},
	},
	{
		Name: "ThunderingHerd", Ctor: "thundering_herd",
		Doc: "One waker broadcasts a generation word to a herd of waiters; each waiter's wait is a wake sample, the waker samples its inter-batch sleeps.",
		Params: []Param{
			groupParam("waiters", 7, "waiters per waker (the group is waiters + 1)"),
			{Name: "batches", Kind: KindInt, Default: int64(1000), Min: 1, Max: 1 << 30, Doc: "broadcasts per waker iteration (ktstr repeats them until stop)"},
			{Name: "inter_batch_ms", Kind: KindInt, Default: int64(5), Min: 0, Max: 1000, Doc: "sleep before each broadcast in ms; 0 means none"},
		},
		GroupSize: plusOne("waiters"),
		Region:    4,
		Samples:   true,
		New: func(w *Worker) (Body, error) {
			return &thunderingHerd{w: w, gen: w.word(0), batches: w.work.Int("batches"), sleep: time.Duration(w.work.Int("inter_batch_ms")) * time.Millisecond,
				counter: roleCounter(w, "broadcasts", "generations_seen")}, nil
		},
	},
}

type cachePipe struct {
	pipeIo
	buf   []byte
	steps uint64
}

func (b *cachePipe) Step() bool {
	if b.gone {
		sleepFull(stopPoll)
		return true
	}
	if len(b.buf) > 0 { // size_kb = 0: exchange only
		cacheRMW(b.buf, 64, int(b.steps))
		b.w.AddUnits(b.steps)
	}
	b.exchange()
	return true
}

// roleCounter registers and returns the report counter of a leader/follower
// type: the leader (position 0) counts the advances it makes, a follower
// the advances it observes (several may pass during one wait).
func roleCounter(w *Worker, leader, follower string) string {
	name := follower
	if w.Pos() == 0 {
		name = leader
	}
	w.Count(name, 0)
	return name
}

// awaitAdvance waits, in futex waits of at most stopPoll, until *word
// moves off expected, and returns the new value. The wait is a wake sample
// and the advances seen are added to counter; at stop it returns expected
// without either.
func (w *Worker) awaitAdvance(word *uint32, expected uint32, counter string) uint32 {
	t0 := nanotime()
	for !w.Stopped() {
		if cur := atomic.LoadUint32(word); cur != expected {
			w.WakeSample(nanotime() - t0)
			w.Count(counter, uint64(cur-expected))
			return cur
		}
		futexWaitTimeout(word, expected, stopPoll)
	}
	return expected
}

// setCounter sets a report counter that holds a value rather than a sum.
// The name must already be registered (Count(name, 0) in New), so the
// loop never grows the map.
func (w *Worker) setCounter(name string, v uint64) { w.counters[name] = v }

// futexFanOut: position 0 advances gen and wakes the receivers.
type futexFanOut struct {
	w       *Worker
	gen     *uint32
	fanOut  int
	spin    uint64
	counter string
}

func (b *futexFanOut) Step() bool {
	w := b.w
	w.SpinBurst(b.spin)
	if w.Pos() == 0 {
		atomic.AddUint32(b.gen, 1)
		futexWakeN(b.gen, b.fanOut)
		w.Count(b.counter, 1)
		w.SpinBurst(256) // grace so receivers run before the next advance
		return true
	}
	w.setCounter("last_generation", uint64(w.awaitAdvance(b.gen, atomic.LoadUint32(b.gen), b.counter)))
	w.ResetGap()
	return true
}

// fanOutCompute's region: a 64-bit generation (the futex is its low half,
// little-endian) and the messenger's stamp.
type fanOutCompute struct {
	w       *Worker
	gen     *uint64
	low     *uint32
	stamp   *int64
	fanOut  int
	sleep   time.Duration
	ops     int64
	n       int
	mat     []uint64 // A, B and C, n×n each; zero, so C stays 0
	counter string
}

func newFanOutCompute(w *Worker) (Body, error) {
	b := &fanOutCompute{
		w:      w,
		gen:    (*uint64)(unsafe.Pointer(&w.region[0])),
		low:    w.word(0),
		stamp:  (*int64)(unsafe.Pointer(&w.region[8])),
		fanOut: int(w.work.Int("fan_out")),
		sleep:  time.Duration(w.work.Int("sleep_usec")) * time.Microsecond,
		ops:    w.work.Int("operations"),
	}
	if kb := w.work.Int("cache_footprint_kb"); kb > 0 && b.ops > 0 && w.Pos() > 0 {
		b.n = int(math.Sqrt(float64(kb * 1024 / 3 / 8)))
		b.mat = make([]uint64, 3*b.n*b.n)
	}
	b.counter = roleCounter(w, "generations", "generations_seen")
	w.Count("last_generation", 0)
	return b, nil
}

func (b *fanOutCompute) Step() bool {
	w := b.w
	if w.Pos() == 0 {
		// Stamp before the release-increment; receivers load the
		// generation, then the stamp (sync/atomic is sequentially consistent).
		atomic.StoreInt64(b.stamp, nanotime())
		atomic.AddUint64(b.gen, 1)
		futexWakeN(b.low, b.fanOut)
		w.Count(b.counter, 1)
		w.SpinBurst(256)
		return true
	}
	expected := atomic.LoadUint64(b.gen)
	for !w.Stopped() {
		if cur := atomic.LoadUint64(b.gen); cur != expected {
			w.WakeSample(nanotime() - atomic.LoadInt64(b.stamp))
			w.Count(b.counter, cur-expected)
			w.setCounter("last_generation", cur)
			break
		}
		futexWaitTimeout(b.low, uint32(expected), stopPoll)
	}
	if b.sleep > 0 && !w.Stopped() {
		nanosleep(b.sleep)
	}
	if b.n > 0 && !w.Stopped() {
		for range b.ops {
			c, ok := matmul(b.mat, b.n, w)
			if !ok {
				break
			}
			w.AddUnits(c + 1)
		}
	}
	w.ResetGap()
	return true
}

// matmul computes C = A·B over the three n×n matrices in buf with wrapping
// arithmetic and returns C[0][0], a liveness sink (0, since A and B are 0).
// A 1 GiB footprint is minutes of work, so it checks w's stop every
// matmulChunk dot products (well under 10 ms) and gives up, returning
// false, once stop is set.
func matmul(buf []uint64, n int, w *Worker) (uint64, bool) {
	nn := n * n
	a, bm, c := buf[:nn], buf[nn:2*nn], buf[2*nn:3*nn]
	for i := range n {
		row := a[i*n : i*n+n]
		for j := range n {
			if j%matmulChunk == 0 && w.Stopped() {
				return 0, false
			}
			var acc uint64
			for k, x := range row {
				acc += x * bm[k*n+j]
			}
			c[i*n+j] = acc
		}
	}
	return c[0], true
}

// matmulChunk is how many dot products matmul computes between checks of
// stop: at most 64 × 6,700 multiply-adds for the largest footprint.
const matmulChunk = 64

// asymmetricWaker: position 0 free-runs bumping the counter, position 1
// waits for each bump.
type asymmetricWaker struct {
	w       *Worker
	word    *uint32
	burst   uint64
	counter string
}

func (b *asymmetricWaker) Step() bool {
	w := b.w
	if w.Pos() == 0 {
		w.SpinBurst(b.burst)
		atomic.AddUint32(b.word, 1)
		futexWakeN(b.word, 1)
		w.Count(b.counter, 1)
		return true
	}
	w.awaitAdvance(b.word, atomic.LoadUint32(b.word), b.counter)
	w.SpinBurst(b.burst)
	w.ResetGap()
	return true
}

// wakeChain is one stage of a ring; the Futex form circulates the stage
// number of the token holder in word.
type wakeChain struct {
	w            *Worker
	word         *uint32
	stage, depth uint32
	hop          int64
}

// work spins for one hop and reports whether the stage may pass the token
// on (false once stopped).
func (b *wakeChain) work() bool {
	w := b.w
	for deadline := nanotime() + b.hop; nanotime() < deadline && !w.Stopped(); {
		w.SpinBurst(256)
	}
	return !w.Stopped()
}

func (b *wakeChain) Step() bool {
	w := b.w
	t0 := nanotime()
	for {
		if w.Stopped() {
			return true
		}
		cur := atomic.LoadUint32(b.word)
		if cur == b.stage {
			break
		}
		futexWaitTimeout(b.word, cur, stopPoll)
	}
	// Stage 0's very first pass holds the token at once: its sample is the
	// start-up gap, as in ktstr.
	w.WakeSample(nanotime() - t0)
	if !b.work() {
		return true
	}
	atomic.StoreUint32(b.word, (b.stage+1)%b.depth)
	futexWakeN(b.word, wakeAll) // every parked stage wakes; the others re-park
	w.Count("hops", 1)
	w.ResetGap()
	return true
}

// wakeChainPipe passes the token as a byte: stage s reads pipe s-1 and
// writes pipe s (the spawner's ring), so each write is a sync wake.
type wakeChainPipe struct {
	wakeChain
	started bool
	gone    bool // the predecessor's end closed: idle until stop
	buf     [1]byte
}

func (b *wakeChainPipe) Step() bool {
	w := b.w
	if b.gone {
		sleepFull(stopPoll)
		return true
	}
	if !b.started {
		b.started = true
		// The bootstrap is gated on stop, so a chain stopped during
		// start-up never starts.
		if b.stage == 0 && !w.Stopped() {
			b.buf[0] = 't'
			rawWrite(w.wfd, b.buf[:])
		}
	}
	t0 := nanotime()
	switch w.awaitByte(b.buf[:]) {
	case byteStopped:
		return true
	case byteGone:
		b.gone = true // the predecessor is gone and the ring is broken
		return true
	}
	w.WakeSample(nanotime() - t0)
	if !b.work() {
		return true
	}
	rawWrite(w.wfd, b.buf[:])
	w.Count("hops", 1)
	w.ResetGap()
	return true
}

// epollStormFiles creates one group's non-blocking eventfd and an epoll
// instance watching it (level-triggered EPOLLIN). Non-blocking, because
// two consumers can return for one readiness and the loser must not block
// in read.
func epollStormFiles(Work) ([]*os.File, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "eventfd")
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		ev.Close()
		ep.Close()
		return nil, fmt.Errorf("epoll_ctl(ADD eventfd): %w", err)
	}
	return []*os.File{ev, ep}, nil
}

type epollStorm struct {
	w          *Worker
	efd, epfd  int
	producer   bool
	burst      int64
	one, value [8]byte
	events     [1]unix.EpollEvent
}

func (b *epollStorm) Step() bool {
	w := b.w
	if b.producer {
		*(*uint64)(unsafe.Pointer(&b.one)) = 1
		for range b.burst {
			if n, _ := unix.Write(b.efd, b.one[:]); n == 8 {
				w.AddUnits(1)
				w.Count("events_produced", 1)
			}
		}
		return true
	}
	t0 := nanotime()
	if n, _ := unix.EpollWait(b.epfd, b.events[:], int(stopPoll/time.Millisecond)); n > 0 {
		// The read takes the whole count; EAGAIN means another consumer
		// emptied it first.
		if n, _ := unix.Read(b.efd, b.value[:]); n == 8 {
			w.WakeSample(nanotime() - t0)
			w.Count("events_consumed", *(*uint64)(unsafe.Pointer(&b.value)))
		} else {
			w.Count("lost_races", 1)
		}
	}
	w.SpinBurst(256)
	w.ResetGap()
	return true
}

// thunderingHerd: position 0 broadcasts batches generations per
// iteration; the others wait for each.
type thunderingHerd struct {
	w       *Worker
	gen     *uint32
	batches int64
	sleep   time.Duration
	counter string
}

func (b *thunderingHerd) Step() bool {
	w := b.w
	if w.Pos() == 0 {
		for done := int64(0); done < b.batches && !w.Stopped(); done++ {
			if b.sleep > 0 {
				t0 := nanotime()
				nanosleep(b.sleep)
				w.WakeSample(nanotime() - t0)
			}
			atomic.AddUint32(b.gen, 1)
			futexWakeN(b.gen, wakeAll)
			w.Count(b.counter, 1)
			w.SpinBurst(256)
		}
		return true
	}
	w.awaitAdvance(b.gen, atomic.LoadUint32(b.gen), b.counter)
	w.ResetGap()
	return true
}
