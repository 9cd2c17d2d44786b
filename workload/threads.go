package workload

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// teamNotAsThread is Type.NotAsThread of the types that run a thread
// team.
const teamNotAsThread = "it is a whole program in one worker process: its own thread team sets GOMAXPROCS, which is process-wide"

// maxTeamThreads bounds every thread-count parameter of a team's type, so
// that one worker process can hold and stop its team.
const maxTeamThreads = 1024

// teamThreadsParam is a team type's count of threads of one role, from
// min to maxTeamThreads.
func teamThreadsParam(name string, def, min int64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: def, Min: min, Max: maxTeamThreads, Doc: doc}
}

// threadTeam runs the internal threads of a work type that is one whole
// program inside one worker process (Schbench, Taobench): each thread is a
// goroutine locked to an OS thread of its own that takes the worker's
// policy and nice (read from the worker's thread), a CPU mask and a comm,
// then waits for the team's gate. New OS threads are cloned by the Go
// runtime from a thread that predates the worker's prologue, so nothing is
// inherited: each thread sets everything itself.
type threadTeam struct {
	attr     *unix.SchedAttr
	gate     uint32
	stopping atomic.Bool
	wg       sync.WaitGroup
	ready    chan error
	started  int
	procs    int // GOMAXPROCS to restore
	reaped   bool
}

// teamReapLimit bounds the wait for a team's threads to exit.
const teamReapLimit = 10 * time.Second

// newThreadTeam prepares a team of up to n threads, with a P for each so
// that no runnable or blocked thread waits for the Go scheduler.
func newThreadTeam(n int) (*threadTeam, error) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return nil, fmt.Errorf("sched_getattr: %w", err)
	}
	tm := &threadTeam{attr: attr, ready: make(chan error, n), procs: runtime.GOMAXPROCS(0)}
	runtime.GOMAXPROCS(max(tm.procs, n+2))
	return tm, nil
}

// spawn starts one thread. The thread is never unlocked, so it ends with
// its goroutine, taking its mask and policy along. setup runs on the
// thread before the gate (its allocations are outside the measured loop).
// body runs once the gate opens or the team stops, whichever comes first,
// even after a failed setup (the spawner then stops the team), so a body
// must return at once when it finds the team stopping: that is what lets
// bodies count their own exits.
func (tm *threadTeam) spawn(comm string, cpus *unix.CPUSet, setup func() error, body func()) {
	tm.started++
	tm.wg.Add(1)
	go func() {
		defer tm.wg.Done()
		runtime.LockOSThread()
		err := tm.setupThread(comm, cpus)
		if err == nil && setup != nil {
			err = setup()
		}
		tm.ready <- err
		for atomic.LoadUint32(&tm.gate) == 0 && !tm.stopping.Load() {
			sbFutexWait(&tm.gate, 0)
		}
		body()
	}()
}

func (tm *threadTeam) setupThread(comm string, cpus *unix.CPUSet) error {
	if err := unix.SchedSetaffinity(0, cpus); err != nil {
		var list []int
		for c := range 1024 {
			if cpus.IsSet(c) {
				list = append(list, c)
			}
		}
		return fmt.Errorf("%s thread: sched_setaffinity(%s): %w", comm, FormatCPUList(list), err)
	}
	attr := *tm.attr
	attr.Size = unix.SizeofSchedAttr
	attr.Flags = 0
	if attr.Policy != unix.SCHED_DEADLINE {
		// For fair tasks the kernel reports the slice in Runtime; writing
		// it back would mark the thread's slice custom, which the
		// worker's own thread is not.
		attr.Runtime, attr.Deadline, attr.Period = 0, 0, 0
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("%s: sched_setattr (policy %d): %w", comm, attr.Policy, err)
	}
	name := append([]byte(comm), 0)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return fmt.Errorf("%s: prctl(PR_SET_NAME): %w", comm, err)
	}
	return nil
}

// wait returns the first setup error of the threads spawned so far.
func (tm *threadTeam) wait() error {
	var first error
	for range tm.started {
		if err := <-tm.ready; err != nil && first == nil {
			first = err
		}
	}
	tm.started = 0
	return first
}

// open lets every thread past the gate.
func (tm *threadTeam) open() {
	atomic.StoreUint32(&tm.gate, 1)
	sbFutexWake(&tm.gate, math.MaxInt32)
}

// stop tells every thread to finish (and any still at the gate to leave).
func (tm *threadTeam) stop() {
	tm.stopping.Store(true)
	sbFutexWake(&tm.gate, math.MaxInt32)
}

// reap waits until every thread has exited, at most teamReapLimit (each
// thread's waits are bounded, so only a bug makes it time out). It
// reports whether all did.
func (tm *threadTeam) reap() bool {
	if tm.reaped {
		return true
	}
	done := make(chan struct{})
	go func() { tm.wg.Wait(); close(done) }()
	select {
	case <-done:
		tm.reaped = true
	case <-time.After(teamReapLimit):
	}
	return tm.reaped
}

// close gives back GOMAXPROCS; call it after reap.
func (tm *threadTeam) close() { runtime.GOMAXPROCS(tm.procs) }

// The team's waits use raw system calls, as the workers' synchronisation
// waits do (sys_linux.go): the runtime is not told the thread blocks, so
// it neither hands the thread's P on nor has to find one (or start a new
// OS thread, a heap allocation) when the wait ends. newThreadTeam gives
// every thread a P of its own, so holding it while blocked costs nothing.
// A wait longer than 10 ms is interrupted by sysmon's preemption signal:
// every caller loops.

// sbFutexWait waits while *addr == val, at most stopPoll.
func sbFutexWait(addr *uint32, val uint32) {
	ts := unix.NsecToTimespec(int64(stopPoll))
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait|futexPrivate, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func sbFutexWake(addr *uint32, n int) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake|futexPrivate, uintptr(n), 0, 0, 0)
}

// sbSleep sleeps for d (at most stopPoll at a time is the caller's rule),
// resuming after interruptions until it has elapsed.
func sbSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for {
		var rem unix.Timespec
		_, _, e := unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&rem)), 0)
		if e != unix.EINTR {
			return
		}
		ts = rem
	}
}

// sbMutex is a futex mutex (0 free, 1 held, 2 held with waiters) for the
// team's threads: a contended sync.Mutex parks the goroutine, which hands
// its P and OS thread around inside the runtime.
type sbMutex struct{ v uint32 }

func (m *sbMutex) lock() {
	if atomic.CompareAndSwapUint32(&m.v, 0, 1) {
		return
	}
	for atomic.SwapUint32(&m.v, 2) != 0 {
		sbFutexWait(&m.v, 2)
	}
}

func (m *sbMutex) unlock() {
	if atomic.AddUint32(&m.v, ^uint32(0)) != 0 {
		atomic.StoreUint32(&m.v, 0)
		sbFutexWake(&m.v, 1)
	}
}
