package workload

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// chainTypes are the wake types of one-to-many and ring shapes: a chain
// passing a token, an epoll storm and a thundering herd, each blocking on
// a bounded wait that is sampled.
var chainTypes = []Type{
	{
		Name: "WakeChain", Ctor: "wake_chain",
		Doc:     "A ring of depth stages passes one token: each waits for its predecessor, works, wakes its successor; each hop is a one-way wake sample.",
		Example: map[string]any{"depth": 3, "work_per_hop": "0s"},
		Params: []Param{
			groupParam("depth", 4, "stages per chain (the group size)"),
			{Name: "wake", Kind: KindEnum, Default: "Pipe", Choices: []string{"Pipe", "Futex"}, Doc: `hop primitive: "Pipe" (a byte through a pipe, a sync wake) or "Futex" (a shared stage word and a broadcast wake)`},
			{Name: "work_per_hop", Kind: KindDuration, Default: 100 * time.Microsecond, Doc: "wall-clock spin of each stage while it holds the token"},
		},
		GroupSize: sumOf("depth"),
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
		// The token word, then each stage's out-slot.
		Region: 8 + maxGroupParam*wakeStampBytes,
		Sample: SampleWake,
		New: func(w *Worker) (Body, error) {
			w.Count("hops", 0)
			depth := int(w.work.Int("depth"))
			b := &wakeChain{w: w, stage: uint32(w.Pos()), depth: uint32(depth), hop: int64(w.work.Duration("work_per_hop"))}
			if w.work.Enum("wake") == "Pipe" {
				return &wakeChainPipe{wakeChain: *b, pipeLink: newPipeLink(w, 8, depth)}, nil
			}
			b.word = w.word(0)
			b.out, b.in = w.ringStamps(8, depth)
			return b, nil
		},
	},
	{
		Name: "EpollStorm", Ctor: "epoll_storm",
		Doc:     "Producers write bursts to a shared eventfd; consumers block in epoll_wait on it; each consumer wake is a wake sample.",
		Example: map[string]any{"events_per_burst": 4},
		Params: []Param{
			groupParam("producers", 1, "eventfd writers per group"),
			groupParam("consumers", 2, "epoll waiters per group"),
			{Name: "events_per_burst", Kind: KindInt, Default: int64(32), Min: 1, Max: 1 << 20, Doc: "eventfd writes per producer iteration"},
		},
		GroupSize:  sumOf("producers", "consumers"),
		GroupFiles: epollStormFiles,
		Sample:     SampleWait,
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
		Doc:     "One waker broadcasts a generation word to a herd of waiters; each waiter's wait is a wake sample, the waker's samples are its inter-batch sleeps (kind sleep).",
		Example: map[string]any{"waiters": 2, "batches": 5, "inter_batch_ms": 0},
		Params: []Param{
			groupParam("waiters", 7, "waiters per waker (the group is waiters + 1)"),
			{Name: "batches", Kind: KindInt, Default: int64(1000), Min: 1, Max: 1 << 30, Doc: "broadcasts per waker iteration (ktstr repeats them until stop)"},
			{Name: "inter_batch_ms", Kind: KindInt, Default: int64(5), Min: 0, Max: 1000, Doc: "sleep before each broadcast in ms; 0 means none"},
		},
		GroupSize: plusOne("waiters"),
		Region:    4,
		Sample:    SampleWait,
		New: func(w *Worker) (Body, error) {
			return &thunderingHerd{w: w, gen: w.word(0), batches: w.work.Int("batches"), sleep: time.Duration(w.work.Int("inter_batch_ms")) * time.Millisecond,
				counter: roleCounter(w, "broadcasts", "generations_seen")}, nil
		},
	},
}

// wakeChain is one stage of a ring; the Futex form circulates the stage
// number of the token holder in word.
type wakeChain struct {
	w            *Worker
	word         *uint32
	stage, depth uint32
	hop          int64
	out          wakeStamp // Futex form: stamped before passing the token on
	in           inbox     // Futex form: the predecessor's out-slot
}

// work spins for one hop and reports whether the stage may pass the token
// on (false once stopped).
func (b *wakeChain) work() bool {
	spinUntil(b.w, nanotime()+b.hop, 256)
	return !b.w.Stopped()
}

func (b *wakeChain) Step() bool {
	w := b.w
	// A token that came before this stage slept for it (stage 0's very
	// first pass, a one-stage chain, a hop while it re-checked after
	// another stage's broadcast) is no wake.
	for woken := false; ; {
		if w.Stopped() {
			return true
		}
		cur := atomic.LoadUint32(b.word)
		if cur == b.stage {
			b.in.take(w, woken)
			break
		}
		// Only a wait for the predecessor's pass is woken by it: a wait that
		// another stage's broadcast ended can find the token already here
		// on its re-check, and then this stage was runnable, not asleep.
		pred := (b.stage + b.depth - 1) % b.depth
		woken = futexWaitTimeout(b.word, cur, stopPoll) && cur == pred
	}
	if !b.work() {
		return true
	}
	b.out.stamp()
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
	started  bool
	pipeLink // gone: the predecessor, so the ring is broken
}

func (b *wakeChainPipe) Step() bool {
	w := b.w
	if b.idle() {
		return true
	}
	if !b.started {
		b.started = true
		// The bootstrap is gated on stop, so a chain stopped during
		// start-up never starts.
		if b.stage == 0 && !w.Stopped() {
			b.send(w, 't')
		}
	}
	if b.await(w) != byteRead {
		return true
	}
	if !b.work() {
		return true
	}
	b.send(w, b.buf[0])
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
				w.Sample(SampleSleep, nanotime()-t0)
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
