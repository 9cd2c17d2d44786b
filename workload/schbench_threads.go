package workload

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// post flips th's word blocked→running and wakes it only if that flip won.
func (s *schbench) post(th *sbThread) {
	if atomic.CompareAndSwapUint32(&th.futex, sbBlocked, sbRunning) {
		sbFutexWake(&th.futex, 1)
	}
}

// wait consumes a post (running→blocked); false if stop came first.
func (s *schbench) wait(th *sbThread) bool {
	for {
		if atomic.CompareAndSwapUint32(&th.futex, sbRunning, sbBlocked) {
			return true
		}
		if s.team.stopping.Load() {
			return false
		}
		sbFutexWait(&th.futex, sbBlocked)
	}
}

// push prepends th to m's wait list (a CAS-based LIFO).
func push(m, th *sbThread) {
	for {
		old := m.head.Load()
		th.next.Store(old)
		if m.head.CompareAndSwap(old, th) {
			return
		}
	}
}

// fill writes v over b (upstream's memset of the pipe page).
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// wakeAll takes m's whole wait list and posts each worker, stamping them
// all with one clock read (pipe mode: a fresh read per worker after
// filling its page).
func (s *schbench) wakeAll(m *sbThread) {
	list := m.head.Swap(nil)
	now := nowUs()
	for list != nil {
		next := list.next.Load()
		list.next.Store(nil)
		if s.pipe > 0 {
			fill(list.page, 1)
			m.pageW.Add(1)
			list.wakeUs.Store(nowUs())
		} else {
			list.wakeUs.Store(now)
		}
		s.post(list)
		list = next
	}
}

func (s *schbench) messenger(m *sbThread) {
	for {
		atomic.StoreUint32(&m.futex, sbBlocked)
		s.wakeAll(m)
		if s.team.stopping.Load() {
			s.wakeAll(m)
			break
		}
		s.wait(m)
	}
	for _, wt := range m.workers {
		s.post(wt)
	}
}

// injector is an RPS-mode message thread. Each one-second window issues
// that second's rate of requests, round-robin over the workers. Upstream
// bursts them all at the top of the second; here request i of a window is
// due i/rate s into it (issued late ones at once), so the requests
// delivered by any moment are rate × elapsed, not a staircase: over whole
// seconds both issue the same number (spec A.15 asks to pick one), and
// upstream's windows also drift by however late each one ends.
func (s *schbench) injector(m *sbThread) {
	cur := 0
	// Windows follow one another on a fixed schedule, so a late wake-up
	// delays requests but never drops them.
	for start := nowUs(); !s.team.stopping.Load(); start += usecPerSec {
		rate := s.rate.Load()
		for i := range rate {
			if s.team.stopping.Load() {
				break
			}
			s.sleepUntil(start + i*usecPerSec/rate)
			if s.team.stopping.Load() {
				break
			}
			wt := m.workers[cur%len(m.workers)]
			cur++
			if wt.pending.Load() > sbPendingMax {
				m.skipped.Add(1)
				sbSleep(100 * time.Microsecond)
				continue
			}
			m.issued.Add(1)
			wt.pending.Add(1)
			wt.reqs.Add(1)
			wt.wakeUs.Store(nowUs())
			s.post(wt)
		}
		s.sleepUntil(start + usecPerSec)
	}
	for _, wt := range m.workers {
		s.post(wt)
	}
}

// sleepUntil sleeps until the clock reads due µs or stop comes.
func (s *schbench) sleepUntil(due int64) {
	for !s.team.stopping.Load() {
		d := due - nowUs()
		if d <= 0 {
			return
		}
		sbSleep(min(time.Duration(d)*time.Microsecond, stopPoll))
	}
}

// msgAndWait queues th with its message thread and waits to be woken,
// recording the wakeup latency; in RPS mode it returns the requests
// queued for th instead of waiting when there are any.
func (s *schbench) msgAndWait(th *sbThread) int64 {
	if s.pipe > 0 {
		fill(th.page, 2)
		th.pageW.Add(1)
	}
	atomic.StoreUint32(&th.futex, sbBlocked)
	th.wakeUs.Store(nowUs())
	if s.rpsMode {
		th.pending.Store(0)
		if n := th.reqs.Swap(0); n > 0 {
			atomic.StoreUint32(&th.futex, sbRunning)
			return n
		}
	} else {
		push(th.msg, th)
	}
	s.post(th.msg)
	if s.team.stopping.Load() || !s.wait(th) || s.rpsMode && s.team.stopping.Load() {
		return 0 // woken by the end of the run: not a latency sample
	}
	if d := nowUs() - th.wakeUs.Load(); d > 0 {
		th.wakeup.Record(uint64(d))
	}
	return 0
}

func (s *schbench) worker(th *sbThread) {
	start := nowUs()
	for !s.team.stopping.Load() {
		n := s.msgAndWait(th)
		if s.rpsMode && n == 0 {
			continue
		}
		for range max(n, 1) {
			var begin int64
			switch {
			case s.pipe > 0:
				begin = nowUs()
			case s.calib:
				s.think()
				begin = nowUs()
			default:
				begin = nowUs()
				s.think()
			}
			if s.pipe == 0 && !s.doWork(th) {
				break
			}
			now := nowUs()
			th.runUs.Store(now - start)
			th.loops.Add(1)
			if d := now - begin; d > 0 {
				th.request.Record(uint64(d))
			}
		}
	}
	th.runUs.Store(nowUs() - start)
}

// think is the simulated network sleep, in pieces of at most stopPoll.
func (s *schbench) think() {
	for left := s.sleep; left > 0 && !s.team.stopping.Load(); left -= stopPoll {
		sbSleep(min(left, stopPoll))
	}
}

// doWork runs one request's matrix products under the lock of the CPU it
// started on; false when stop came while waiting for that lock.
func (s *schbench) doWork(th *sbThread) bool {
	var lock *uint32
	if !s.skipLock {
		if lock = s.lockThisCPU(th); lock == nil {
			return false
		}
	}
	if s.split {
		if s.sharedN > 0 {
			for range s.opsShared {
				sbMatmul(s.shared, s.sharedN)
			}
		}
		if s.privN > 0 {
			for range s.ops {
				sbMatmul(th.data, s.privN)
			}
		}
	} else {
		for range s.ops {
			sbMatmul(th.data, s.n)
		}
	}
	if lock != nil {
		atomic.StoreUint32(lock, 0)
	}
	return true
}

// lockThisCPU spins on a try-lock of the current CPU's word and, once it
// has it, starts over if the thread migrated meanwhile (spec A.5).
func (s *schbench) lockThisCPU(th *sbThread) *uint32 {
	var relax uint64
	waited := false
	for {
		cpu := s.cpu() % s.nlocks
		l := (*uint32)(unsafe.Pointer(&s.locks[cpu*sbLockStride]))
		for i := 1; !atomic.CompareAndSwapUint32(l, 0, 1); i++ {
			if !waited {
				waited = true
				th.contended.Add(1)
			}
			spin(&relax, 1)
			if i%1024 == 0 && s.team.stopping.Load() {
				return nil
			}
		}
		if s.cpu()%s.nlocks == cpu {
			return l
		}
		atomic.StoreUint32(l, 0)
	}
}

// sbMatmul is C = A·B over three n×n matrices at the start of data: the
// naive triple loop, each row by sbRow, which stores the running sum into
// C on every inner step as gcc's build of upstream does (matmul sums in a
// register instead); in split mode those stores are the cross-core line
// bouncing upstream intends.
func sbMatmul(data []uint64, n int) {
	if n == 0 {
		return
	}
	nn := n * n
	a, b, c := data[:nn], data[nn:2*nn], data[2*nn:3*nn]
	for i := range n {
		sbRow(&a[i*n], &b[0], &c[i*n], n)
	}
}
