package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thread hosts (runtime.md §1.4, §1.5, §4.4, §4.5). A group with
// clone_mode = "thread" or a pcomm runs its workers as locked OS threads
// of one re-exec'd host process: one host for every thread-mode group of
// a spawn, and one per distinct pcomm, whose leader's comm is the pcomm.
// Each worker thread keeps the protocol of a worker process (protocol.go)
// on a report pipe of its own, which it closes after its report: the
// parent's reading, deadlines and sentinels are fork mode's, and the host
// is reaped once every one of its workers' pipes reached EOF.
//
// A host's descriptors: fdSpec (a hostSpec), fdShm, then one report pipe
// per worker from fdReport on, then each worker's pipes and GroupFiles
// (workerSpec.ReportFD and FDBase say where).

// hostEnv marks a re-exec'd worker process as a thread host.
const hostEnv = "KTSTAR_HOST"

// hostSpec is what a host process reads on fdSpec.
type hostSpec struct {
	// Pcomm is the leader's task name; empty in thread mode, where the
	// host keeps the executable's.
	Pcomm   string `json:"pcomm,omitempty"`
	ShmSize int    `json:"shm_size"`
	// UID and GID are the host's credentials, process-wide: set once every
	// thread has done its privileged set-up.
	UID     *int         `json:"uid,omitempty"`
	GID     *int         `json:"gid,omitempty"`
	Workers []workerSpec `json:"workers"`
}

// hostKey names the host a hosted group's workers go to.
func (c *Config) hostKey() string { return c.Pcomm }

// host is the parent's side of one host process.
type host struct {
	spec     hostSpec
	children []*child
	reports  []*os.File // the workers' report write ends, in order
	extra    [][]*os.File
	own      []*os.File // pipes and GroupFiles to close once it started
	proc     *os.Process

	open      atomic.Int32 // workers whose report pipe has not reached EOF
	reaped    chan struct{}
	state     *os.ProcessState
	waitErr   error
	signalled bool
}

// hostFor returns the host of a hosted group, made on first use.
func (h *Handle) hostFor(cfg Config, shmSize int) *host {
	for _, hp := range h.hosts {
		if hp.spec.Pcomm == cfg.hostKey() {
			return hp
		}
	}
	hp := &host{spec: hostSpec{Pcomm: cfg.hostKey(), ShmSize: shmSize, UID: cfg.UID, GID: cfg.GID}, reaped: make(chan struct{})}
	h.hosts = append(h.hosts, hp)
	return hp
}

// add records one worker of the host, with the extra files it inherits.
func (hp *host) add(spec *workerSpec, extra []*os.File) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: pipe: %w", spec.Index, err)
	}
	hp.reports = append(hp.reports, w)
	hp.extra = append(hp.extra, extra)
	hp.spec.Workers = append(hp.spec.Workers, *spec)
	c := &child{
		idx: spec.Index, groupIdx: spec.GroupIdx, group: spec.Group, report: r, host: hp, slot: spec.Slot,
		parked: make(chan struct{}), released: make(chan struct{}), done: make(chan struct{}),
	}
	if t := spec.Work.Type(); t.Scratch != nil {
		c.scratch = t.Scratch(spec.Work, spec.Token)
	}
	hp.children = append(hp.children, c)
	return nil
}

// keep holds files until the host has started (the parent's copies of a
// group's pipes, which fork mode drops after the group's last worker).
func (hp *host) keep(fs ...*os.File) { hp.own = append(hp.own, fs...) }

// startHost starts the host process with every worker added and its
// children's collectors.
func (h *Handle) startHost(env spawnEnv, hp *host) error {
	n := len(hp.spec.Workers)
	files := []*os.File{env.devnull, os.Stderr, os.Stderr, nil, env.shm}
	files = append(files, hp.reports...)
	for i := range hp.spec.Workers {
		s := &hp.spec.Workers[i]
		s.ReportFD, s.FDBase, s.Hosted = fdReport+i, len(files), n
		files = append(files, hp.extra[i]...)
	}
	data, err := json.Marshal(hp.spec)
	if err != nil {
		return fmt.Errorf("spawn host: encode spec: %w", err)
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn host: pipe: %w", err)
	}
	files[fdSpec] = specR
	// Thousands of workers' specs outgrow a pipe's buffer: the host reads
	// while this writes.
	go func() {
		specW.Write(data)
		specW.Close()
	}()
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), workerEnv+"="+protoVersion, hostEnv+"=1", "GOMAXPROCS=1", "GOGC=off"),
		Files: files,
		Sys:   baseSysProcAttr(),
	}
	proc, err := h.startProcess(env.exe, attr, env.cgDir, nil)
	specR.Close() // a failed start leaves the writer EPIPE
	hp.closeFiles()
	if err != nil {
		for _, c := range hp.children {
			c.report.Close()
		}
		return fmt.Errorf("spawn worker %d: start host process: %w", hp.children[0].idx, err)
	}
	hp.proc = proc
	hp.open.Store(int32(n))
	for _, c := range hp.children {
		c.proc = proc
		h.children = append(h.children, c)
		go c.collect()
	}
	return nil
}

// closeFiles drops the parent's copies of what the host inherits.
func (hp *host) closeFiles() {
	closeAll(hp.reports)
	closeAll(hp.own)
	hp.reports, hp.own = nil, nil
}

// release is called by each worker's collector at its pipe's EOF; the
// last reaps the host, then clears its process group of anything the
// workers started.
func (hp *host) release() {
	if hp.open.Add(-1) > 0 {
		return
	}
	hp.state, hp.waitErr = hp.proc.Wait()
	unix.Kill(-hp.proc.Pid, unix.SIGKILL)
	close(hp.reaped)
}

// markKilled marks every worker of the host whose report pipe is still
// open as killed by the stop deadline, before the host is killed.
func (hp *host) markKilled() {
	for _, c := range hp.children {
		if !c.eof.Load() {
			c.killed.Store(true)
		}
	}
}

// hostMain runs a thread host and returns its exit code: it starts one
// locked OS thread per worker, applies the process-wide credentials once
// every thread has done its own set-up, and exits when every thread has
// sent its report.
func hostMain() int {
	var hs hostSpec
	specFile := os.NewFile(fdSpec, "spec")
	err := json.NewDecoder(specFile).Decode(&hs)
	specFile.Close()
	var shm []byte
	if err == nil {
		if shm, err = unix.Mmap(fdShm, 0, hs.ShmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			err = fmt.Errorf("map shared memory (%d bytes): %w", hs.ShmSize, err)
		}
	}
	if err == nil && hs.Pcomm != "" {
		err = setComm(hs.Pcomm) // main runs on the leader (worker_main.go's init)
	}
	if err != nil {
		// Worker 0's pipe: the parent reads it first.
		os.NewFile(fdReport, "report").Write(append([]byte{byte(msgError)}, "host: "+err.Error()...))
		return 1
	}
	unix.Close(fdShm)
	// While the threads set themselves up, a P per CPU: every P holds
	// memory of its own (its span caches) once a thread allocates on it.
	runtime.GOMAXPROCS(min(len(hs.Workers), runtime.NumCPU()) + 2)
	workers := make([]*Worker, len(hs.Workers))
	cpu := cpuReader()
	for i, spec := range hs.Workers {
		workers[i] = newWorker(spec, shm, cpu)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		<-sig
		for _, w := range workers {
			w.sigDone.Store(true)
		}
	}()

	// Credentials need a barrier: set once every thread has done its
	// privileged set-up. Without them the threads go on at their own pace.
	var ready, ids chan error
	if hs.UID != nil || hs.GID != nil {
		ready, ids = make(chan error, len(workers)), make(chan error, len(workers))
	}
	var wg sync.WaitGroup
	var arrived sync.WaitGroup
	arrived.Add(len(workers))
	raised := make(chan struct{})
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostThread(w, hs.Pcomm, ready, ids, &threadState{parking: func() {
				arrived.Done()
				<-raised
			}})
		}()
	}
	if ready != nil {
		failed := false
		for range workers {
			if err := <-ready; err != nil {
				failed = true
			}
		}
		// A thread that failed has told the parent, which cancels the
		// gate: the others park without the credentials, and exit with it.
		var idErr error
		if !failed {
			idErr = applyIDs(hs.UID, hs.GID)
		}
		for range workers {
			ids <- idErr
		}
	}
	// Once every thread is set up, before any parks: a P for every worker
	// thread, so that none waits for the Go scheduler once the gate opens,
	// and two for the runtime's own goroutines.
	arrived.Wait()
	runtime.GOMAXPROCS(len(hs.Workers) + 2)
	close(raised)
	wg.Wait()
	return 0
}

// hostThread runs one worker on a locked OS thread of its own. The thread
// is never unlocked: it ends with the goroutine, taking its mask, policy
// and name along. ready gets the result of the thread's own set-up; ids
// then brings the host's credentials' result (both nil without
// credentials to set).
func hostThread(w *Worker, pcomm string, ready, ids chan error, ts *threadState) {
	runtime.LockOSThread()
	report := os.NewFile(uintptr(w.spec.ReportFD), "report")
	// The report ends at this close: the thread's EOF.
	defer report.Close()
	defer func() {
		if p := recover(); p != nil {
			failHostThread(w, report, ts.stage, p)
		}
	}()
	tid := unix.Gettid()
	w.seed()
	// SiblingPids and Handle.Pids read the tid once every worker parked.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&w.shm[w.spec.Slot+slotPid])), uint64(tid))
	err := w.prologue()
	if err == nil && w.spec.Comm == "" && pcomm != "" {
		err = setComm(pcomm)
	}
	if err == nil {
		err = applyNode(w.spec.NodeCPUs)
	}
	if ready != nil {
		ready <- err
		if err == nil {
			err = <-ids
		}
	}
	if err != nil {
		report.Write(append([]byte{byte(msgError)}, err.Error()...))
		ts.arrive()
		return
	}
	w.serve(report, ts)
}

// threadState is what a thread host keeps of one worker thread.
type threadState struct {
	stage msg // the last protocol message sent
	// parking runs once, when the thread has prepared its body and is
	// about to park (or to fail): the host's last barrier.
	parking func()
	arrived bool
}

// arrive passes the host's last barrier for a thread that will not park.
func (ts *threadState) arrive() {
	if !ts.arrived {
		ts.arrived = true
		ts.parking()
	}
}

// failHostThread finishes the protocol for a worker thread that panicked
// (a fork worker's panic would kill its process alone): an error before
// the gate, a failed report after it.
func failHostThread(w *Worker, report *os.File, stage msg, p any) {
	text := fmt.Sprintf("worker thread panicked: %v", p)
	if stage != msgReleased {
		report.Write(append([]byte{byte(msgError)}, text...))
		return
	}
	r := sentinel(unix.Gettid(), w.spec.Group, &ExitInfo{Kind: ExitFailed, Error: text})
	if data, err := json.Marshal(r); err == nil {
		report.Write(data)
	}
}

// checkHosts refuses hosted groups that share a host but not its
// credentials, which are process-wide (runtime.md §1.5).
func (c *Config) checkHosts() error {
	first := map[string]int{}
	groups := c.groups()
	for k, g := range groups {
		if !g.hosted() {
			continue
		}
		j, seen := first[g.hostKey()]
		if !seen {
			first[g.hostKey()] = k
			continue
		}
		if o := groups[j]; !sameID(o.UID, g.UID) || !sameID(o.GID, g.GID) {
			return invalid("group_idx %d and %d share the host process %s but not its uid and gid (uid %s and %s, gid %s and %s): credentials are process-wide",
				j, k, hostName(g.Pcomm), idString(o.UID), idString(g.UID), idString(o.GID), idString(g.GID))
		}
	}
	return nil
}

func sameID(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func idString(v *int) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprint(*v)
}

// hostName describes a host for errors.
func hostName(pcomm string) string {
	if pcomm == "" {
		return "of clone_mode = \"thread\""
	}
	return fmt.Sprintf("pcomm = %q", pcomm)
}
