package workload

import (
	"golang.org/x/sys/unix"
)

// timerTypes holds TimerLatency, the cyclictest-style probe of hrtimer
// wake-up latency.
var timerTypes = []Type{{
	Name: "TimerLatency", Ctor: "timer_latency",
	Doc: "cyclictest-style probe: sleep to absolute deadlines interval_us apart; how late each wake came is a timer sample (timer_latencies_ns).",
	Params: []Param{
		// Bounded below the stop deadline, since each sleep is one call.
		{Name: "interval_us", Kind: KindInt, Default: int64(1000), Min: 1, Max: 4_000_000, Doc: "µs between deadlines (1000: 1 kHz); a late wake does not move the later deadlines"},
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
	ts := unix.NsecToTimespec(b.next)
	err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
	if w.Stopped() {
		return true
	}
	// An interrupted sleep (EINTR) did not reach its deadline: no sample.
	if err == nil {
		w.timerSample(nanotime() - b.next)
	}
	b.next += b.interval
	w.ResetGap()
	return true
}
