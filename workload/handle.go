package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
)

// Handle owns the workers of one Spawn: their processes, pipes and shared
// memory. Every method is safe to call from one goroutine at a time. The
// messages it exchanges with its workers are described in protocol.go.
type Handle struct {
	cfg      Config
	shm      []byte
	children []*child
	// hosts are the thread hosts and pcomm containers of hosted groups;
	// their workers are children too.
	hosts   []*host
	spawner *spawnThread
	started bool
	closed  bool
	// cgFallback says why workers could not be created inside Config.Cgroup.
	cgFallback error
	// ownGroups are the groups made for Type.Cgroups, removed by Close.
	ownGroups []*cgroupfs.Manager
	// scratchDirs are the directories made for scratch files, removed by
	// Close when empty.
	scratchDirs []string

	// steps are the step epochs SetPhaseEpoch wrote, in order: each
	// report gets a slice for each.
	steps []uint32

	// collectLimit is the stop deadline; a field so tests can shorten it.
	collectLimit time.Duration
}

// child is one worker process and the goroutine that reads its report pipe.
type child struct {
	idx, group int
	groupIdx   int         // the composed group (Report.GroupIdx)
	proc       *os.Process // the worker's process, or its host's
	report     *os.File    // read end of the report pipe
	// host is the thread host of a worker that runs as a thread; nil for
	// a worker process of its own. tid is then its thread id, published
	// in its slot (at slot) before it parked.
	host      *host
	tid, slot int

	parked   chan struct{} // closed at msgParked, or when reading ends
	released chan struct{} // closed at msgReleased, or when reading ends
	done     chan struct{} // closed after EOF and reaping

	scratch []string    // files the worker may have left; removed after reaping
	killed  atomic.Bool // SIGKILLed by the stop deadline
	eof     atomic.Bool // the report pipe reached EOF
	fatal   string      // what the worker said with msgError, or the protocol error
	payload []byte      // the report
	state   *os.ProcessState
	waitErr error
}

// collect reads the report pipe as it arrives (msgParked, then
// msgReleased, then the report until EOF), then clears the process group
// and reaps the worker. A message out of order ends the reading: its error
// becomes the worker's fatal text, and the worker is killed.
func (c *child) collect() {
	defer close(c.done)
	m, err := readMsg(c.report, msgParked, msgError)
	if err == nil && m == msgError {
		rest, _ := io.ReadAll(c.report)
		c.fatal = string(rest)
	}
	if err == nil && m == msgParked {
		close(c.parked)
		// msgError here: the worker gave up waiting at the start gate.
		if m, err = readMsg(c.report, msgReleased, msgError); err == nil && m == msgError {
			rest, _ := io.ReadAll(c.report)
			c.fatal = string(rest)
		} else if err == nil {
			close(c.released)
			c.payload, _ = io.ReadAll(c.report)
		}
	}
	if errors.Is(err, errUnexpected) {
		c.fatal = err.Error()
	}
	closeOnce(c.parked)
	closeOnce(c.released)
	c.eof.Store(true)
	if c.host != nil {
		// EOF came when the thread closed its pipe: the host is reaped
		// with its last worker's.
		c.host.release()
		<-c.host.reaped
		c.state, c.waitErr = c.host.state, c.host.waitErr
	} else {
		// EOF came at the worker's exit; anything it left in its process group goes too.
		unix.Kill(-c.proc.Pid, unix.SIGKILL)
		c.state, c.waitErr = c.proc.Wait()
	}
	for _, p := range c.scratch {
		os.Remove(p)
	}
}

// closeOnce closes ch unless it is closed already.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Pids returns the workers' task ids in spawn order: a worker process's
// pid, a hosted worker thread's tid.
func (h *Handle) Pids() []int {
	out := make([]int, len(h.children))
	for i, c := range h.children {
		out[i] = c.pid()
	}
	return out
}

// HostPid returns the pid of the spawn's first thread host (a thread-mode
// group's or a pcomm container), 0 when every worker is a process of its
// own.
func (h *Handle) HostPid() int {
	for _, hp := range h.hosts {
		if hp.proc != nil {
			return hp.proc.Pid
		}
	}
	return 0
}

// pid is the worker's task id: its process's, or its thread's.
func (c *child) pid() int {
	if c.host != nil {
		return c.tid
	}
	return c.proc.Pid
}

// Start opens the start gate of every worker at once: it stamps the start
// time in shared memory (every worker's windows count from it), sets the
// gate word and wakes a few waiters, which wake the rest (gateFanout): its
// cost does not grow with the number of workers. A second call does
// nothing.
func (h *Handle) Start() error {
	if h.started || h.closed {
		return nil
	}
	h.started = true
	atomic.StoreInt64((*int64)(unsafe.Pointer(&h.shm[offStartNs])), nanotime())
	h.setGate(gateOpen)
	return nil
}

// setGate sets the gate word to state and starts the wake of the workers
// waiting on it, which they spread among themselves (gateFanout).
func (h *Handle) setGate(state uint32) {
	gate := (*uint32)(unsafe.Pointer(&h.shm[offGate]))
	atomic.StoreUint32(gate, state)
	futexWakeN(gate, gateFanout)
}

// SnapshotIterations returns each worker's published iteration count, in
// spawn order. Workers publish at most once a millisecond, so a snapshot
// may lag the true count by up to a millisecond of work.
func (h *Handle) SnapshotIterations() []uint64 {
	out := make([]uint64, len(h.children))
	if h.shm == nil {
		return out
	}
	for i := range out {
		out[i] = atomic.LoadUint64((*uint64)(unsafe.Pointer(&h.shm[slotBase+slotBytes*i])))
	}
	return out
}

// SetAffinity changes the CPU mask of worker i while it runs.
func (h *Handle) SetAffinity(i int, cpus []int) error {
	if err := CheckSetAffinity(len(h.children), i, cpus); err != nil {
		return err
	}
	if err := pin(h.children[i].pid(), cpus); err != nil {
		return fmt.Errorf("set_affinity(%d): %w", i, err)
	}
	return nil
}

// StopAndCollect stops every worker and returns one report per worker, in
// spawn order. A worker that sent no complete report is represented by a
// sentinel with Completed false and ExitInfo saying why. If Start was never
// called, the workers are started first and given up to 5 s to enter their
// loop, so a slow starter is not reported as starved. The handle is closed
// afterwards.
func (h *Handle) StopAndCollect() ([]Report, error) {
	return h.StopAndCollectContext(context.Background())
}

// StopAndCollectContext is StopAndCollect, cut short when ctx is done (an
// interrupted run): the workers that have not reported within 500 ms
// after that are SIGKILLed, as at the stop deadline, and reported as
// timed_out.
func (h *Handle) StopAndCollectContext(ctx context.Context) ([]Report, error) {
	if h.closed {
		return nil, errors.New("stop: workload already stopped")
	}
	auto := !h.started
	if err := h.Start(); err != nil {
		h.Close()
		return nil, err
	}
	if auto {
		waitAll(h.children, func(c *child) chan struct{} { return c.released }, releaseLimit)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&h.shm[offStop])), 1)
	for _, c := range h.children {
		if hp := c.host; hp != nil {
			if hp.signalled {
				continue
			}
			hp.signalled = true
		}
		c.proc.Signal(syscall.SIGUSR1)
	}
	deadline := time.NewTimer(h.collectLimit)
	defer deadline.Stop()
	expired := false
	cut := ctx.Done()
	for _, c := range h.children {
	wait:
		for !expired {
			select {
			case <-c.done:
				break wait
			case <-deadline.C:
				expired = true
			case <-cut:
				// Interrupted: what is left of the deadline shrinks to the
				// grace, enough for a live worker to send its report.
				cut = nil
				if deadline.Stop() {
					deadline.Reset(interruptGrace)
				} else {
					expired = true
				}
			}
		}
		select {
		case <-c.done:
		default:
			if c.host != nil {
				// The kill ends the host: every thread of it still
				// running was cut off by the deadline, not from outside.
				c.host.markKilled()
			} else {
				c.killed.Store(true)
			}
			killGroup(c.proc.Pid)
		}
	}
	awaitReap(h.children)
	reports := make([]Report, len(h.children))
	for i, c := range h.children {
		reports[i] = c.decode()
		reports[i].GroupIdx = c.groupIdx
		if c.host != nil {
			reports[i].HostPid, reports[i].Pcomm = c.proc.Pid, c.host.spec.Pcomm
		}
		if reports[i].Completed {
			reports[i].PhaseSlices = stepSlices(reports[i].PhaseSlices, h.steps)
		}
	}
	return reports, h.close()
}

// decode turns what the worker sent into its report or a sentinel.
func (c *child) decode() Report {
	select {
	case <-c.done:
	default:
		return sentinel(c.pid(), c.group, &ExitInfo{Kind: ExitTimedOut, Error: "still alive after SIGKILL"})
	}
	if len(c.payload) > 0 {
		var r Report
		dec := json.NewDecoder(bytes.NewReader(c.payload))
		// A report with ExitInfo is the worker's own account of a failure
		// (a Custom function's error): it carries the error text.
		if err := dec.Decode(&r); err == nil && (r.Completed || r.ExitInfo != nil) {
			return r
		}
	}
	info := &ExitInfo{Error: c.fatal}
	switch {
	case c.killed.Load():
		info.Kind = ExitTimedOut
	case c.waitErr != nil:
		info.Kind, info.Error = ExitWaitFailed, c.waitErr.Error()
	default:
		ws := c.state.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			info.Kind, info.Signal = ExitSignaled, int(ws.Signal())
			// ktstar kills a worker it expects a report from only at the
			// stop deadline (timed_out) or for a protocol error (fatal says
			// which); any other signal came from outside.
			if c.fatal == "" {
				info.FromOutside = true
				info.Error = fmt.Sprintf("killed by %s, which ktstar did not send", unix.SignalName(ws.Signal()))
			}
		case ws.Exited():
			info.Kind, info.Code = ExitExited, ws.ExitStatus()
		default:
			info.Kind = ExitTimedOut
		}
	}
	return sentinel(c.pid(), c.group, info)
}

// Close kills and reaps every worker that is still running and releases the
// handle's memory, file descriptors and own cgroups. It is safe to call
// more than once and is what error paths use instead of StopAndCollect.
func (h *Handle) Close() { h.close() }

// close is Close; it returns why a group of the handle's own could not be
// removed, which StopAndCollect reports.
func (h *Handle) close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	if !h.started && h.shm != nil {
		h.setGate(gateCancel) // a parked worker exits quietly
	}
	for _, c := range h.children {
		select {
		case <-c.done:
		default:
			killGroup(c.proc.Pid)
		}
	}
	awaitReap(h.children)
	for _, c := range h.children {
		c.report.Close()
	}
	for _, hp := range h.hosts {
		if hp.proc == nil { // the spawn failed before it started
			hp.closeFiles()
			for _, c := range hp.children {
				c.report.Close()
			}
		}
	}
	if h.shm != nil {
		unix.Munmap(h.shm)
		h.shm = nil
	}
	h.spawner.close()
	if h.cfg.Work.Type().Scratch != nil {
		removeScratchDirs(h.scratchDirs)
	}
	return h.removeOwnGroups()
}

// killGroup SIGKILLs a worker and everything in its process group.
func killGroup(pid int) {
	unix.Kill(-pid, unix.SIGKILL)
	unix.Kill(pid, unix.SIGKILL)
}

// awaitReap waits until every child is reaped, after SIGKILL where the
// caller sent one. reapLimit bounds the wait for a stuck task; but a
// SIGKILLed task must still run to exit, each of its threads, and on a
// loaded machine that takes longer: the wait goes on while a child left
// is still exiting, up to exitLimit, and ends when all left are blocked
// where SIGKILL cannot reach (their sentinels then say "still alive after
// SIGKILL").
func awaitReap(cs []*child) {
	waitAll(cs, func(c *child) chan struct{} { return c.done }, reapLimit)
	for end := time.Now().Add(exitLimit - reapLimit); time.Now().Before(end); {
		var left *child
		for _, c := range cs {
			select {
			case <-c.done:
				continue
			default:
			}
			if exiting(c.proc.Pid) {
				left = c
				break
			}
		}
		if left == nil {
			return
		}
		// Poll, so that a child that ends up stuck ends the wait too.
		waitAll([]*child{left}, func(c *child) chan struct{} { return c.done }, exitPoll)
	}
}

// exiting reports whether process pid is on its way out, not stuck: a
// task of it is running or waiting for a CPU (state R), every task has
// ended (Z or X: dead, only its reaping is late), or the process has left
// /proc (reaped; its child's done closes next).
func exiting(pid int) bool {
	tasks, err := procfs.AllThreads(pid)
	if err != nil {
		return true
	}
	dead := true
	for _, t := range tasks {
		st, err := t.Stat()
		if err != nil || st.State == "R" {
			return true
		}
		if st.State != "Z" && st.State != "X" {
			dead = false
		}
	}
	return dead
}

// waitAll waits for ch(c) of every child, sharing one deadline.
func waitAll(cs []*child, ch func(*child) chan struct{}, limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for _, c := range cs {
		select {
		case <-ch(c):
		case <-t.C:
			return
		}
	}
}
