package workload

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTypes are the ALU, cache and burst/idle types: CPU work with at most a
// yield or a sleep between bursts.
var cpuTypes = []Type{
	{
		Name: "AluHot", Ctor: "alu_hot",
		Doc:         "Four independent multiply chains at the requested data-path width (high IPC).",
		Params:      []Param{aluWidthParam},
		CostSamples: true,
		New: func(w *Worker) (Body, error) {
			impl, err := resolveAluWidth(w.work.Enum("width"))
			if err != nil {
				return nil, err
			}
			return &aluHot{w: w, requested: w.work.Enum("width"), impl: impl}, nil
		},
	},
	{
		Name: "IpcVariance", Ctor: "ipc_variance",
		Doc:     "Alternating ALU-bound (high IPC) and random-memory (low IPC) phases.",
		Example: map[string]any{"hot_iters": 1000, "cold_iters": 100, "period_iters": 2},
		Params: []Param{
			{Name: "hot_iters", Kind: KindInt, Default: int64(100_000), Min: 1, Max: maxSpinIters, Doc: "scalar ALU chain steps per hot phase"},
			{Name: "cold_iters", Kind: KindInt, Default: int64(1024), Min: 1, Max: maxSpinIters, Doc: "random read-modify-writes over 512 KiB per cold phase"},
			{Name: "period_iters", Kind: KindInt, Default: int64(64), Min: 1, Max: 1 << 16, Doc: "hot+cold pairs per iteration"},
		},
		CostSamples: true,
		New: func(w *Worker) (Body, error) {
			return &ipcVariance{
				w: w, hot: uint64(w.work.Int("hot_iters")), cold: w.work.Int("cold_iters"), period: w.work.Int("period_iters"),
				buf: make([]uint64, 65536), rng: w.rng,
			}, nil
		},
	},
	{
		Name: "IdleChurn", Ctor: "idle_churn",
		Doc:     "Short spin burst then one nanosleep; the oversleep (observed minus requested) is a wake sample.",
		Example: map[string]any{"burst_duration": "100us", "sleep_duration": "100us"},
		Params: []Param{
			{Name: "burst_duration", Kind: KindDuration, Default: time.Millisecond, MinDur: time.Nanosecond, Doc: "wall-clock length of each spin burst"},
			{Name: "sleep_duration", Kind: KindDuration, Default: 5 * time.Millisecond, Doc: "length of each nanosleep"},
			{Name: "precise_timing", Kind: KindBool, Default: false, Doc: "set the timer slack to 1 ns so samples show wake latency without the ~50 µs default slack"},
		},
		Validate: func(w Work) error {
			if w.Duration("sleep_duration") <= 0 {
				return fmt.Errorf("sleep_duration = %v is out of range (allowed: 1ns or more); for no sleep use spin_wait or yield_heavy", w.Duration("sleep_duration"))
			}
			return nil
		},
		Sample: SampleOversleep,
		New: func(w *Worker) (Body, error) {
			if w.work.Bool("precise_timing") {
				// 1 ns: 0 would reset the slack to the default.
				if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
					return nil, fmt.Errorf("precise_timing: prctl(PR_SET_TIMERSLACK, 1): %w", err)
				}
			}
			return (*idleChurn)(newBursty(w)), nil
		},
	},
	cacheType("CachePressure", "cache_pressure", "Strided read-modify-write of 1024 bytes per iteration over a private buffer.", false),
	cacheType("CacheYield", "cache_yield", "CachePressure's read-modify-write burst, then a timed sched_yield (a wake sample).", true),
}

// aluWidthParam is AluHot's width, shared with the alu_hot Sequence phase.
var aluWidthParam = Param{
	Name: "width", Kind: KindEnum, Default: "Widest",
	Choices: []string{"Widest", "Scalar", "Vec128", "Vec256", "Vec512"},
	Doc: "data path: Scalar (IMUL), Vec128 (SSE2), Vec256 (AVX2), Vec512 (AVX-512F) or Widest available; " +
		"a width the CPU lacks fails the spawn (ktstr's Amx is not offered: AMX is never enabled)",
}

// yieldKind is CacheYield's sample kind; CachePressure records none.
func yieldKind(yield bool) SampleKind {
	if yield {
		return SampleYield
	}
	return ""
}

// cacheType declares CachePressure and CacheYield, which differ only in
// the yield after each burst.
func cacheType(name, ctor, doc string, yield bool) Type {
	return Type{
		Name: name, Ctor: ctor, Doc: doc,
		Params: []Param{
			// ktstr silently leaves the loop on a zero size or stride; ktstar rejects them.
			{Name: "size_kb", Kind: KindInt, Default: int64(32), Min: 1, Max: 1 << 22, Aliases: []string{"size_kib"}, Doc: "buffer size in KiB"},
			{Name: "stride", Kind: KindInt, Default: int64(64), Min: 1, Max: 1 << 20, Doc: "bytes between touched bytes"},
		},
		Sample: yieldKind(yield),
		New: func(w *Worker) (Body, error) {
			return &cachePressure{w: w, buf: make([]byte, w.work.Int("size_kb")*1024), stride: int(w.work.Int("stride")), yield: yield}, nil
		},
	}
}

// aluImpl is one ALU chain implementation and the width name it runs.
type aluImpl struct {
	width string
	chain func(n uint64) uint64
}

// resolveAluWidth picks the chain for a requested width: Widest is the
// widest this CPU runs; an explicit width the CPU lacks is an error, not a
// silent downgrade, so a run never measures something other than asked.
func resolveAluWidth(width string) (aluImpl, error) {
	ws := aluWidths()
	if width == "Widest" {
		return ws[len(ws)-1], nil
	}
	names := make([]string, len(ws))
	for i, impl := range ws {
		if impl.width == width {
			return impl, nil
		}
		names[i] = impl.width
	}
	return aluImpl{}, fmt.Errorf("width = %q: this CPU cannot run it (available: %s)", width, strings.Join(names, ", "))
}

type aluHot struct {
	w         *Worker
	requested string
	impl      aluImpl
	sink      uint64
}

func (b *aluHot) Step() bool {
	t0 := nanotime()
	b.sink ^= b.impl.chain(1024)
	b.w.costSample(nanotime() - t0)
	b.w.AddUnits(1024)
	return true
}

// Finish records the requested and the executed width, so runs can be
// classified by what actually ran.
func (b *aluHot) Finish(r *Report) {
	r.Extra = map[string]any{"width": b.requested, "resolved_width": b.impl.width}
}

type ipcVariance struct {
	w                *Worker
	hot              uint64
	cold, period     int64
	buf              []uint64
	rng              uint64
	sink             uint64
	completedPeriods uint64
}

// Step runs period_iters hot+cold pairs; only an iteration that stop did
// not cut short is an iteration-cost sample.
func (b *ipcVariance) Step() bool {
	w := b.w
	t0 := nanotime()
	for range b.period {
		if w.Stopped() {
			return true
		}
		b.sink ^= aluScalar(b.hot)
		w.AddUnits(b.hot)
		if w.Stopped() {
			return true
		}
		coldRMW(b.buf, &b.rng, b.cold)
		w.AddUnits(uint64(b.cold))
	}
	w.costSample(nanotime() - t0)
	w.Count("complete_iterations", 1)
	return true
}

// coldRMW does n read-modify-writes at xorshift-random slots of buf, whose
// length must be a power of two. It is a function of its own so the
// compiler cannot merge its loads and stores with the caller's.
//
//go:noinline
func coldRMW(buf []uint64, rng *uint64, n int64) {
	x, mask := *rng, uint64(len(buf)-1)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		buf[x&mask]++
	}
	*rng = x
}

// idleChurn has bursty's state; its sleep is one nanosleep whose
// oversleep is the sample.
type idleChurn bursty

func (b *idleChurn) Step() bool {
	w := b.w
	spinUntil(w, nanotime()+b.burst, 256)
	if w.Stopped() {
		return true
	}
	t0 := nanotime()
	if err := nanosleep(b.sleep); err == unix.EINVAL {
		return false
	}
	w.WakeSample(nanotime() - t0 - int64(b.sleep))
	w.ResetGap()
	return true
}

type cachePressure struct {
	w      *Worker
	buf    []byte
	stride int
	yield  bool
}

func (b *cachePressure) Step() bool {
	cacheRMW(b.buf, b.stride, 1024)
	b.w.AddUnits(1024)
	if b.yield {
		t0 := nanotime()
		schedYield()
		b.w.WakeSample(nanotime() - t0)
	}
	return true
}
