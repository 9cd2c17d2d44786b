package workload

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// timerTypes holds TimerLatency, the cyclictest-style probe of hrtimer
// wake-up latency.
var timerTypes = []Type{{
	Name: "TimerLatency", Ctor: "timer_latency",
	Doc: "cyclictest-style probe: sleep to absolute deadlines interval_us apart; how late each wake came is a timer sample (timer_latencies_ns).",
	Params: []Param{
		// Bounded below the stop deadline, since each sleep is one call.
		{Name: "interval_us", Kind: KindInt, Default: int64(1000), Min: 1, Max: maxSleepMs * 1000, Doc: "µs between deadlines (1000: 1 kHz); a late wake does not move the later deadlines"},
	},
	TimerSamples: true,
	New: func(w *Worker) (Body, error) {
		return &timerLatency{w: w, interval: w.work.Int("interval_us") * 1000}, nil
	},
}}

// timerLatency keeps one deadline schedule for the whole run: next only
// ever grows by interval, never re-based on the wake time, so a late wake
// shows up as latency instead of shifting every later deadline. Under
// SCHED_OTHER the thread's timer slack (50 µs by default) is part of what
// it measures, as it is for cyclictest without a real-time priority.
type timerLatency struct {
	w        *Worker
	interval int64 // ns
	next     int64 // the next deadline, CLOCK_MONOTONIC ns; 0 before the first pass
}

func (b *timerLatency) Step() bool {
	w := b.w
	if b.next == 0 {
		b.next = nanotime() + b.interval
	}
	woke := sleepUntil(w, b.next)
	// Every deadline that has passed is sampled now, by how late it is. A
	// stall (the probe stopped or not run) passes many at once; sampling
	// them all in this step keeps the count on the schedule even when a
	// stop arrives right after the stall, before another step could run.
	// A stop that comes before the deadline samples nothing.
	for now := nanotime(); b.next <= now; b.next += b.interval {
		w.timerSample(now - b.next)
	}
	if woke {
		w.ResetGap()
	}
	return true
}

// sleepUntil sleeps until the CLOCK_MONOTONIC deadline (ns). It uses the
// raw syscall, as the loops' synchronisation waits do (sys_linux.go), so
// the wake-up does not wait for the runtime to hand the worker's P back:
// that would add Go's overhead to every sample. The runtime's preemption
// signal (and any other) interrupts a raw sleep with EINTR; an absolute
// deadline makes the retry exact. It returns false when the worker was
// told to stop.
func sleepUntil(w *Worker, deadline int64) bool {
	ts := unix.NsecToTimespec(deadline)
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if w.Stopped() {
			return false
		}
		if e != unix.EINTR {
			return true
		}
	}
}
