package workload

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"
)

// maxGroupParam bounds every parameter that sets a group's size, so one
// spawn cannot ask for an absurd number of processes by accident.
const maxGroupParam = 1024

// groupParam is a parameter counting workers of one role in a group. Zero
// is refused: a group without that role would not do what the type says.
func groupParam(name string, def int64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: def, Min: 1, Max: maxGroupParam, Doc: doc}
}

// sumOf returns a GroupSize that adds the named int parameters (one
// parameter: the group is that many).
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

// wakeTypes are the wake-placement types of pairs and fan-outs, each
// blocking on a bounded wait that is sampled.
var wakeTypes = []Type{
	{
		Name: "CachePipe", Ctor: "cache_pipe",
		Doc:     "Pairs do a cache-hot read-modify-write burst (stride 64), then PipeIo's one-byte exchange; each byte waited for is a one-way wake sample.",
		Example: map[string]any{"size_kb": 4, "burst_iters": 64},
		Params: []Param{
			{Name: "size_kb", Kind: KindInt, Default: int64(32), Min: 0, Max: 1 << 20, Aliases: []string{"size_kib"}, Doc: "buffer size in KiB; 0 means no cache work"},
			itersParam("burst_iters", "read-modify-write steps before each exchange"),
		},
		GroupSize: pairs,
		Pipes:     pairs,
		Region:    2 * wakeStampBytes,
		Sample:    SampleWake,
		New: func(w *Worker) (Body, error) {
			return &cachePipe{pipeIo: *newPipeIo(w, 0), buf: make([]byte, w.work.Int("size_kb")*1024), steps: uint64(w.work.Int("burst_iters"))}, nil
		},
	},
	{
		Name: "FutexFanOut", Ctor: "futex_fan_out",
		Doc:     "One messenger advances a shared generation word and wakes fan_out receivers; a receiver's wait for the advance is a wake sample.",
		Example: map[string]any{"fan_out": 2, "spin_iters": 64},
		Params: []Param{
			groupParam("fan_out", 4, "receivers per messenger (the group is fan_out + 1)"),
			itersParam("spin_iters", "spin steps before each advance (messenger) or wait (receiver)"),
		},
		GroupSize: plusOne("fan_out"),
		Region:    4,
		Messenger: true,
		Sample:    SampleWait,
		New: func(w *Worker) (Body, error) {
			w.Count("last_generation", 0)
			return &futexFanOut{w: w, gen: w.word(0), fanOut: int(w.work.Int("fan_out")), spin: uint64(w.work.Int("spin_iters")),
				counter: roleCounter(w, "generations", "generations_seen")}, nil
		},
	},
	{
		Name: "FanOutCompute", Ctor: "fan_out_compute",
		Doc:     "A messenger stamps the time and wakes fan_out receivers; each measures stamp-to-wake, sleeps, then multiplies matrices (schbench-like).",
		Example: map[string]any{"fan_out": 2, "cache_footprint_kb": 16, "operations": 1, "sleep_usec": 10},
		Params: []Param{
			groupParam("fan_out", 4, "receivers per messenger (the group is fan_out + 1)"),
			{Name: "cache_footprint_kb", Kind: KindInt, Default: int64(256), Min: 0, Max: 1 << 20, Aliases: []string{"cache_footprint_kib"}, Doc: "size of the three matrices in KiB; 0 means no matrix work"},
			{Name: "operations", Kind: KindInt, Default: int64(5), Min: 0, Max: 1 << 20, Doc: "matrix multiplications per wake; 0 means no matrix work"},
			{Name: "sleep_usec", Kind: KindInt, Default: int64(100), Min: 0, Max: 1_000_000, Doc: "think time after each wake in µs (one nanosleep); 0 means none"},
		},
		GroupSize: plusOne("fan_out"),
		Region:    16,
		Messenger: true,
		Sample:    SampleWake,
		New:       newFanOutCompute,
	},
	{
		Name: "AsymmetricWaker", Ctor: "asymmetric_waker",
		Doc:     "A waker in one scheduling class bumps a futex counter for a wakee in another; the wakee's wait is a wake sample.",
		Example: map[string]any{"burst_iters": 64},
		Params: []Param{
			{Name: "waker_class", Kind: KindEnum, Default: "Cfs", Choices: schedClasses, Doc: "scheduling class of position 0, the waker"},
			{Name: "wakee_class", Kind: KindEnum, Default: "Cfs", Choices: schedClasses, Doc: "scheduling class of position 1, the wakee"},
			itersParam("burst_iters", "spin steps per wake (waker) and after each wake (wakee)"),
		},
		GroupSize: pairs,
		Region:    4,
		Sample:    SampleWait,
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
}

type cachePipe struct {
	pipeIo
	buf   []byte
	steps uint64
}

func (b *cachePipe) Step() bool {
	if b.idle() {
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
