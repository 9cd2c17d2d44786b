package workload

import (
	"sync/atomic"
	"unsafe"
)

// One-way wake latency. A worker that hands off to a partner (a futex
// word flipped and woken, a byte written to a pipe) stamps CLOCK_MONOTONIC
// in its out-slot in the group's shared region right before the wake; the
// woken partner's sample is its own clock on seeing the hand-off minus
// that stamp: what the wake cost, without the partner's work in between.
// A hand-off that arrives while the waiter is not blocked in its wait for
// it (it was already there when the wait began; a futex wait found the
// word changed and never slept) is no wake at all, so it is counted in
// handoffsBeforeWait instead of sampled.

// wakeStampBytes is one out-slot: the count of hand-offs stamped, the
// stamps of the last two (a symmetric exchange can run one ahead), pad.
const wakeStampBytes = 32

// handoffsBeforeWait is the report counter of hand-offs that arrived
// before the worker blocked waiting for them, and so were not sampled.
const handoffsBeforeWait = "handoffs_before_wait"

// wakeStamp is one worker's out-slot. Its owner is its only writer.
type wakeStamp struct {
	seq    *uint64
	stamps *[2]int64
}

// stampAt returns the out-slot at byte offset off of the group's region
// (8-byte aligned).
func (w *Worker) stampAt(off int) wakeStamp {
	return wakeStamp{
		seq:    (*uint64)(unsafe.Pointer(&w.region[off])),
		stamps: (*[2]int64)(unsafe.Pointer(&w.region[off+8])),
	}
}

// ringStamps returns the worker's out-slot and the inbox of the previous
// member of a ring of n (a pair: the partner), whose out-slots lie in the
// group's region from byte base on, one per position. It registers the
// handoffsBeforeWait counter.
func (w *Worker) ringStamps(base, n int) (wakeStamp, inbox) {
	w.Count(handoffsBeforeWait, 0)
	prev := (w.Pos() + n - 1) % n
	return w.stampAt(base + w.Pos()*wakeStampBytes), inbox{from: w.stampAt(base + prev*wakeStampBytes)}
}

// stamp records now as the time of the next hand-off. Call it right
// before the store or write that a partner can see: the stamp is
// published before the sequence, and the sequence before the hand-off.
func (s wakeStamp) stamp() {
	k := atomic.LoadUint64(s.seq)
	atomic.StoreInt64(&s.stamps[k%2], nanotime())
	atomic.StoreUint64(s.seq, k+1)
}

// inbox is the woken side of a partner's out-slot.
type inbox struct {
	from wakeStamp
	got  uint64 // hand-offs received (counted ones) or seen (latest ones)
}

// counted: every hand-off is one byte received in order (pipes).

// waiting reports, right before a wait for hand-off number got, whether
// it is still to come; false means the partner already stamped it.
func (b *inbox) waiting() bool { return atomic.LoadUint64(b.from.seq) <= b.got }

// receive takes hand-off number got: a wake sample when real, else a
// handoffsBeforeWait count.
func (b *inbox) receive(w *Worker, real bool) {
	if real {
		w.WakeSample(nanotime() - atomic.LoadInt64(&b.from.stamps[b.got%2]))
	} else {
		w.Count(handoffsBeforeWait, 1)
	}
	b.got++
}

// latest: a futex word whose flips can overwrite each other (a loose
// hand-off at start, a token's stage number); the hand-off seen is the
// partner's latest stamp.

// take records the hand-off just seen on a futex word: a wake sample of
// the partner's latest stamp when a FUTEX_WAKE ended the worker's last
// wait (woken), else a handoffsBeforeWait count.
func (b *inbox) take(w *Worker, woken bool) {
	seq := atomic.LoadUint64(b.from.seq)
	if woken && seq > b.got {
		w.WakeSample(nanotime() - atomic.LoadInt64(&b.from.stamps[(seq-1)%2]))
	} else {
		w.Count(handoffsBeforeWait, 1)
	}
	b.got = seq
}
