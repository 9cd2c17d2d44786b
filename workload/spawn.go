package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/topo"
)

// Shared memory layout of a handle (one memfd, mapped MAP_SHARED by the
// parent and every worker):
//
//	offset 0            stop word (u32): non-zero tells every worker to stop
//	offset 64 + 64·i    worker i's published iteration count (u64), one cache line each
//	page-aligned after  one page per group for types with a shared Region
//	                    (futex words), zero-filled
const (
	offStop   = 0
	slotBase  = 64
	slotBytes = 64
	pageSize  = 4096
)

// Deadlines of the stop protocol (ktstr's constants, §4.14).
const (
	parkLimit    = 30 * time.Second // every worker must reach the start gate
	releaseLimit = 5 * time.Second  // auto-start: workers enter their loop
	collectLimit = 5 * time.Second  // shared by all workers, then SIGKILL
	reapLimit    = 3 * time.Second  // after SIGKILL, then give up on a stuck task
)

// Handle owns the workers of one Spawn: their processes, pipes and shared
// memory. Every method is safe to call from one goroutine at a time.
//
// The protocol, per worker (parent on the left, worker on the right):
//
//	memfd, pipes; exec /proc/self/exe ──►  KTSTAR_WORKER=1: Init()
//	spec (JSON) on fd 3               ──►  read spec, mmap fd 4
//	                                       affinity, policy, nice, comm
//	Spawn returns once all parked     ◄──  'p' on the report pipe, wait on fd 5
//	Start: one byte on fd 5           ──►  gate opens
//	                                  ◄──  'r'; the loop runs
//	Stop: stop word = 1, SIGUSR1      ──►  loop ends
//	                                  ◄──  report (JSON), EOF at exit
//	collect; SIGKILL the process group after the deadline; reap
//
// A worker that fails before parking sends 'e' and its error instead of 'p'.
type Handle struct {
	cfg      Config
	shm      []byte
	children []*child
	spawner  *spawnThread
	started  bool
	closed   bool
	// cgFallback says why workers could not be created inside Config.Cgroup.
	cgFallback error
	// ownGroups are the groups made for Type.Cgroups, removed by Close.
	ownGroups []*cgroupfs.Manager

	// collectLimit is the stop deadline; a field so tests can shorten it.
	collectLimit time.Duration
}

// child is one worker process and the goroutine that reads its report pipe.
type child struct {
	idx, group int
	proc       *os.Process
	start      *os.File // write end of the start gate; nil once opened
	report     *os.File // read end of the report pipe

	parked   chan struct{} // closed at 'p', 'e' or EOF
	released chan struct{} // closed at 'r' or EOF
	done     chan struct{} // closed after EOF and reaping

	scratch []string    // files the worker may have left; removed after reaping
	killed  atomic.Bool // SIGKILLed by the stop deadline
	fatal   string      // what the worker said with 'e'
	payload []byte      // the report
	state   *os.ProcessState
	waitErr error
}

// collect reads the report pipe as it arrives ('p', then 'r', then the
// report until EOF), then clears the process group and reaps the worker.
func (c *child) collect() {
	defer close(c.done)
	var b [1]byte
	if n, _ := io.ReadFull(c.report, b[:]); n == 1 {
		switch b[0] {
		case 'e':
			rest, _ := io.ReadAll(c.report)
			c.fatal = string(rest)
		case 'p':
			close(c.parked)
			if n, _ := io.ReadFull(c.report, b[:]); n == 1 && b[0] == 'r' {
				close(c.released)
				c.payload, _ = io.ReadAll(c.report)
			}
		}
	}
	select {
	case <-c.parked:
	default:
		close(c.parked)
	}
	select {
	case <-c.released:
	default:
		close(c.released)
	}
	// EOF came at the worker's exit; anything it left in its process group goes too.
	unix.Kill(-c.proc.Pid, unix.SIGKILL)
	c.state, c.waitErr = c.proc.Wait()
	for _, p := range c.scratch {
		os.Remove(p)
	}
}

// Spawn validates cfg, starts cfg.Workers worker processes and returns once
// every one of them has applied its settings and parked at the start gate.
// If any worker fails, every worker already started is killed and reaped
// and the error names the worker.
func Spawn(cfg Config) (h *Handle, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn: find own executable: %w", err)
	}
	h = &Handle{cfg: cfg, spawner: newSpawnThread(), collectLimit: collectDeadline(cfg.Work)}
	defer func() {
		if err != nil {
			h.Close()
			h = nil
		}
	}()

	t := cfg.Work.Type()
	g := max(cfg.Work.GroupSize(), 1)
	regionBase := alignPage(slotBase + slotBytes*cfg.Workers)
	shmSize := regionBase
	if t.Region > 0 {
		shmSize += (cfg.Workers / g) * alignPage(t.Region)
	}
	memfd, err := unix.MemfdCreate("ktstar-shm", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("spawn: memfd_create: %w", err)
	}
	shmFile := os.NewFile(uintptr(memfd), "ktstar-shm")
	defer shmFile.Close()
	if err := unix.Ftruncate(memfd, int64(shmSize)); err != nil {
		return nil, fmt.Errorf("spawn: size shared memory to %d bytes: %w", shmSize, err)
	}
	if h.shm, err = unix.Mmap(memfd, 0, shmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("spawn: map shared memory (%d bytes): %w", shmSize, err)
	}

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	defer devnull.Close()

	var cgDir *os.File
	if cfg.Cgroup != nil {
		if cgDir, err = cfg.Cgroup.OpenDir(); err != nil {
			return h, fmt.Errorf("spawn: %w", err)
		}
		defer cgDir.Close()
	}

	var ownDirs []string
	if t.Cgroups != nil {
		if ownDirs, err = h.makeOwnGroups(t); err != nil {
			return h, err
		}
	}

	npipes := 0 // per group; a type may need pipes in one mode only
	if t.Pipes != nil {
		npipes = t.Pipes(cfg.Work)
	}
	var ring []*os.File   // the current group's pipes: read, write, read, write, …
	var shared []*os.File // the current group's GroupFiles
	defer func() { closeAll(ring); closeAll(shared) }()
	for i := range cfg.Workers {
		pos := i % g
		spec := workerSpec{
			Index: i, Group: 0, Pos: pos, Work: cfg.Work,
			CPUs: drawCPUs(cfg.Affinity), Policy: cfg.Policy, Nice: cfg.Nice, Comm: cfg.Comm,
			ShmSize: shmSize, Slot: slotBase + slotBytes*i,
			Token:      fmt.Sprintf("%d-%d-%x", os.Getpid(), i, rand.Uint64()),
			CgroupDirs: ownDirs,
		}
		if t.Region > 0 {
			spec.Region = regionBase + (i/g)*alignPage(t.Region)
		}
		var extra []*os.File
		if n := npipes; n > 0 {
			if pos == 0 {
				if ring, err = makePipes(n); err != nil {
					return h, fmt.Errorf("spawn worker %d: %w", i, err)
				}
			}
			spec.HasPipes = true
			extra = []*os.File{ring[2*((pos+n-1)%n)], ring[2*(pos%n)+1]}
		}
		if t.GroupFiles != nil {
			if pos == 0 {
				if shared, err = t.GroupFiles(cfg.Work); err != nil {
					return h, fmt.Errorf("spawn worker %d: %s: %w", i, t.Name, err)
				}
			}
			spec.GroupFiles = len(shared)
			extra = append(extra, shared...)
		}
		if err := h.startChild(exe, devnull, shmFile, &spec, extra, cgDir); err != nil {
			return h, err
		}
		if pos == g-1 {
			// The parent never uses the pipes or group files: dropping its
			// copies lets a worker see EOF when its partner dies, and the
			// files close when the group's last worker exits.
			closeAll(ring)
			closeAll(shared)
			ring, shared = nil, nil
		}
	}
	deadline := time.NewTimer(parkLimit)
	defer deadline.Stop()
	for _, c := range h.children {
		select {
		case <-c.parked:
		case <-deadline.C:
			return h, fmt.Errorf("spawn worker %d: did not reach the start gate within %v", c.idx, parkLimit)
		}
		if c.fatal != "" {
			return h, fmt.Errorf("spawn worker %d: %s", c.idx, c.fatal)
		}
		select {
		case <-c.done:
			if c.fatal != "" {
				return h, fmt.Errorf("spawn worker %d: %s", c.idx, c.fatal)
			}
			return h, fmt.Errorf("spawn worker %d: exited before reaching the start gate (%s)", c.idx, describeExit(c))
		default:
		}
	}
	return h, nil
}

// startChild creates one worker process with its spec, gate and report pipe.
func (h *Handle) startChild(exe string, devnull, shm *os.File, spec *workerSpec, extra []*os.File, cgDir *os.File) error {
	i := spec.Index
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("spawn worker %d: encode spec: %w", i, err)
	}
	var files []*os.File
	defer func() { closeAll(files) }() // the child's ends, duplicated into it
	specR, specW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: pipe: %w", i, err)
	}
	files = append(files, specR)
	// A spec is a few hundred bytes, far below the pipe buffer: no deadlock.
	_, err = specW.Write(specJSON)
	specW.Close()
	if err != nil {
		return fmt.Errorf("spawn worker %d: send spec: %w", i, err)
	}
	startR, startW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: pipe: %w", i, err)
	}
	files = append(files, startR)
	reportR, reportW, err := os.Pipe()
	if err != nil {
		startW.Close()
		return fmt.Errorf("spawn worker %d: pipe: %w", i, err)
	}
	files = append(files, reportW)

	attr := &os.ProcAttr{
		Env:   append(os.Environ(), workerEnv+"="+protoVersion, "GOMAXPROCS=1", "GOGC=off"),
		Files: append([]*os.File{devnull, os.Stderr, os.Stderr, specR, shm, startR, reportW}, extra...),
		Sys:   baseSysProcAttr(),
	}
	proc, err := h.startProcess(exe, attr, cgDir, spec.CPUs)
	if err != nil {
		startW.Close()
		reportR.Close()
		return fmt.Errorf("spawn worker %d: start process: %w", i, err)
	}
	c := &child{
		idx: i, group: spec.Group, proc: proc, start: startW, report: reportR,
		parked: make(chan struct{}), released: make(chan struct{}), done: make(chan struct{}),
	}
	if t := spec.Work.Type(); t.Scratch != nil {
		c.scratch = t.Scratch(spec.Work, spec.Token)
	}
	h.children = append(h.children, c)
	go c.collect()
	return nil
}

// Pids returns the worker process ids in spawn order.
func (h *Handle) Pids() []int {
	out := make([]int, len(h.children))
	for i, c := range h.children {
		out[i] = c.proc.Pid
	}
	return out
}

// Start opens the start gate of every worker. A second call does nothing.
func (h *Handle) Start() error {
	if h.started || h.closed {
		return nil
	}
	h.started = true
	var errs []error
	for _, c := range h.children {
		if _, err := c.start.Write([]byte{'s'}); err != nil {
			errs = append(errs, fmt.Errorf("start worker %d: %w", c.idx, err))
		}
		c.start.Close()
		c.start = nil
	}
	return errors.Join(errs...)
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
	if i < 0 || i >= len(h.children) {
		return fmt.Errorf("set_affinity: worker index %d is out of range (allowed: 0..%d)", i, len(h.children)-1)
	}
	online, err := topo.OnlineCPUs()
	if err != nil {
		return err
	}
	if err := Exact(cpus...).validate(online); err != nil {
		return fmt.Errorf("set_affinity(%d): %w", i, err)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(h.children[i].proc.Pid, &set); err != nil {
		return fmt.Errorf("set_affinity(%d, %s): %w", i, FormatCPUList(cpus), err)
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
		c.proc.Signal(syscall.SIGUSR1)
	}
	deadline := time.NewTimer(h.collectLimit)
	defer deadline.Stop()
	expired := false
	for _, c := range h.children {
		if !expired {
			select {
			case <-c.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			c.killed.Store(true)
			killGroup(c.proc.Pid)
		}
	}
	waitAll(h.children, func(c *child) chan struct{} { return c.done }, reapLimit)
	reports := make([]Report, len(h.children))
	for i, c := range h.children {
		reports[i] = c.decode()
	}
	return reports, h.close()
}

// decode turns what the worker sent into its report or a sentinel.
func (c *child) decode() Report {
	select {
	case <-c.done:
	default:
		return sentinel(c.proc.Pid, c.group, &ExitInfo{Kind: ExitTimedOut, Error: "still alive after SIGKILL"})
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
		case ws.Exited():
			info.Kind, info.Code = ExitExited, ws.ExitStatus()
		default:
			info.Kind = ExitTimedOut
		}
	}
	return sentinel(c.proc.Pid, c.group, info)
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
	for _, c := range h.children {
		if c.start != nil {
			c.start.Close() // EOF at the gate: a parked worker exits quietly
			c.start = nil
		}
		select {
		case <-c.done:
		default:
			killGroup(c.proc.Pid)
		}
	}
	waitAll(h.children, func(c *child) chan struct{} { return c.done }, reapLimit)
	for _, c := range h.children {
		c.report.Close()
	}
	if h.shm != nil {
		unix.Munmap(h.shm)
		h.shm = nil
	}
	h.spawner.close()
	return h.removeOwnGroups()
}

// killGroup SIGKILLs a worker and everything in its process group.
func killGroup(pid int) {
	unix.Kill(-pid, unix.SIGKILL)
	unix.Kill(pid, unix.SIGKILL)
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

// collectDeadline is the stop deadline for a work type: 5 s, or longer than
// its longest configured sleep, since workload sleeps are single calls.
func collectDeadline(w Work) time.Duration {
	d := collectLimit
	t := w.Type()
	longest := func(v time.Duration) {
		if v+time.Second > d {
			d = v + time.Second
		}
	}
	for _, p := range t.Params {
		switch p.Kind {
		case KindDuration:
			longest(w.Duration(p.Name))
		case KindPhases:
			for _, ph := range w.Phases(p.Name) {
				longest(ph.Duration)
			}
		}
	}
	return d
}

func describeExit(c *child) string {
	if c.waitErr != nil {
		return c.waitErr.Error()
	}
	return c.state.String()
}

// drawCPUs resolves an affinity intent to one worker's mask (nil = inherit).
func drawCPUs(a Affinity) []int {
	switch a.Kind {
	case AffinityExact:
		return slices.Clone(a.CPUs)
	case AffinityRandomSubset:
		pool := slices.Clone(a.CPUs)
		rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		out := pool[:a.Count]
		slices.Sort(out)
		return out
	}
	return nil
}

// makePipes creates n pipes, returned as read, write, read, write, ….
func makePipes(n int) ([]*os.File, error) {
	fs := make([]*os.File, 0, 2*n)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(fs)
			return nil, fmt.Errorf("pipe: %w", err)
		}
		fs = append(fs, r, w)
	}
	return fs, nil
}

func alignPage(n int) int { return (n + pageSize - 1) &^ (pageSize - 1) }

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// spawnThread is a goroutine locked to one OS thread for the life of a
// handle. Workers are created from it because PR_SET_PDEATHSIG fires when
// the creating *thread* exits: a pool thread could be retired under a
// LockOSThread'd goroutine and take the workers with it.
type spawnThread struct {
	reqs chan func()
}

func newSpawnThread() *spawnThread {
	st := &spawnThread{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range st.reqs {
			f()
		}
		// Unlocked, the thread returns to the pool instead of exiting.
		runtime.UnlockOSThread()
	}()
	return st
}

// do runs f on the spawner thread and waits for it.
func (st *spawnThread) do(f func()) {
	done := make(chan struct{})
	st.reqs <- func() { f(); close(done) }
	<-done
}

func (st *spawnThread) close() { close(st.reqs) }
