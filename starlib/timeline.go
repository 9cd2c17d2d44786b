package starlib

import (
	"sync"
	"time"
)

// Timeline is a spawn's progress over time: every worker's iteration
// count, sampled at a fixed interval from start() until stop(), from the
// shared-memory counters the workers already publish.
type Timeline struct {
	IntervalNs int64 `json:"interval_ns"`
	// TNs is when each sample was taken, in ns since start().
	TNs []int64 `json:"t_ns"`
	// Iterations is, per worker, the iterations done at each sample.
	Iterations [][]uint64 `json:"iterations"`
}

// sampler fills a Timeline from a goroutine until stopped.
type sampler struct {
	tl   Timeline
	quit chan struct{}
	done sync.WaitGroup
}

// startTimeline samples h every interval until stopTimeline.
func (h *Handle) startTimeline(interval time.Duration) {
	sm := &sampler{tl: Timeline{IntervalNs: interval.Nanoseconds(), Iterations: make([][]uint64, h.cfg.Workers)}, quit: make(chan struct{})}
	h.sampler = sm
	start := time.Now()
	sm.done.Add(1)
	go func() {
		defer sm.done.Done()
		// One sample per interval deadline passed, not per timer tick: a
		// sampler that woke late (a loaded host) takes the deadlines it
		// missed with its one reading, so the count follows the run's
		// length and the stamps say when the reading was really made.
		for k := 1; ; k++ {
			t := time.NewTimer(time.Until(start.Add(time.Duration(k) * interval)))
			select {
			case <-sm.quit:
				t.Stop()
				return
			case <-t.C:
			}
			h.mu.Lock()
			its := h.h.SnapshotIterations()
			h.mu.Unlock()
			now := time.Now()
			if len(its) != len(sm.tl.Iterations) {
				continue
			}
			for ; ; k++ {
				sm.tl.TNs = append(sm.tl.TNs, now.Sub(start).Nanoseconds())
				for i, n := range its {
					sm.tl.Iterations[i] = append(sm.tl.Iterations[i], n)
				}
				if !start.Add(time.Duration(k+1) * interval).Before(now) {
					break
				}
			}
		}
	}()
}

// stopTimeline ends the sampling and returns what it gathered; nil when
// the handle was never sampled. It is idempotent.
func (h *Handle) stopTimeline() *Timeline {
	sm := h.sampler
	if sm == nil {
		return nil
	}
	h.sampler = nil
	close(sm.quit)
	sm.done.Wait()
	return &sm.tl
}
