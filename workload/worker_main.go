package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
)

func init() {
	// The worker's loop must run on the thread-group leader so that pid-0
	// syscalls, /proc/self/schedstat and the reported tid all refer to the
	// measured task. Locking in init makes main run on the startup thread.
	if os.Getenv(workerEnv) != "" {
		runtime.LockOSThread()
	}
}

// Init is the worker entry hook. A program that spawns workloads calls it
// first thing in main (and a test binary in TestMain): in a re-exec'd worker
// it runs the worker and exits; otherwise it returns at once.
//
// Only a process that Spawn made is a worker: an empty KTSTAR_WORKER is
// ignored, and a marked process without the protocol's file descriptors
// (someone set the variable by hand) exits 2 saying so, before it reads
// or writes any of them.
func Init() {
	v := os.Getenv(workerEnv)
	if v == "" {
		return
	}
	if err := checkProtocolFds(); err != nil {
		fmt.Fprintf(os.Stderr, "ktstar: %s is set, but %v: it marks ktstar's own worker processes (an internal entry point); unset it\n", workerEnv, err)
		os.Exit(2)
	}
	if v != protoVersion {
		fmt.Fprintf(os.Stderr, "ktstar worker: protocol %q, want %q\n", v, protoVersion)
		os.Exit(2)
	}
	// The worker and whatever it starts see the run's environment without
	// the marker.
	os.Unsetenv(workerEnv)
	if os.Getenv(hostEnv) != "" {
		os.Unsetenv(hostEnv)
		os.Exit(hostMain())
	}
	os.Exit(workerMain())
}

// checkProtocolFds checks that fds 3 to 5 are what Spawn passes: pipes
// for the spec and the report, and the shared memfd.
func checkProtocolFds() error {
	for _, fd := range []struct {
		n    int
		mode uint32
		what string
	}{
		{fdSpec, unix.S_IFIFO, "spec pipe"},
		{fdShm, unix.S_IFREG, "shared memory"},
		{fdReport, unix.S_IFIFO, "report pipe"},
	} {
		var st unix.Stat_t
		if err := unix.Fstat(fd.n, &st); err != nil || st.Mode&unix.S_IFMT != fd.mode {
			return fmt.Errorf("fd %d is not the worker's %s", fd.n, fd.what)
		}
	}
	return nil
}

// workerMain runs one worker and returns its exit code. Any failure before
// the loop is sent to the parent as msgError so Spawn can report it.
func workerMain() int {
	runtime.GOMAXPROCS(1)
	report := os.NewFile(fdReport, "report")
	fail := func(err error) int {
		report.Write(append([]byte{byte(msgError)}, err.Error()...))
		return 1
	}
	w, err := setup()
	if err != nil {
		return fail(err)
	}
	return w.serve(report, nil)
}

// serve runs a worker whose prologue is done: it prepares the body, parks,
// waits for the start gate, runs the loop and writes the report. It
// returns the worker process's exit code. ts is nil in a worker process
// of its own; a thread host's worker threads pass theirs.
func (w *Worker) serve(report *os.File, ts *threadState) int {
	fail := func(err error) int {
		report.Write(append([]byte{byte(msgError)}, err.Error()...))
		return 1
	}
	sent := func(m msg) {
		if ts != nil {
			ts.stage = m
		}
	}
	body, err := w.work.Type().New(w)
	if ts != nil {
		ts.arrive()
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", w.work.Name(), err))
	}
	if _, err := report.Write([]byte{byte(msgParked)}); err != nil {
		return 1
	}
	sent(msgParked)
	start, err := waitStartGate(w.shm, w.spec.GateLimit)
	if errors.Is(err, errGateCancelled) {
		return 0
	}
	if err != nil {
		return fail(err)
	}
	w.begin(start)
	// After the gate, so a worker moved in by the cgroup.procs fallback
	// reports its final group. A host without cgroup v2 reports none.
	w.cgroup, _ = cgroupfs.ProcCgroup(0)
	if _, err := report.Write([]byte{byte(msgReleased)}); err != nil {
		return 1
	}
	sent(msgReleased)
	debug.SetGCPercent(-1)
	// A locked goroutine that yields hands its P to another thread, which
	// the runtime creates on first need. Doing that now keeps thread
	// creation out of the measured loop, where sysmon's preemption would
	// otherwise trigger it.
	runtime.Gosched()
	r := w.run(body)
	if c, ok := body.(interface{ Close() }); ok {
		c.Close()
	}
	data, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ktstar worker %d: encode report: %v\n", w.spec.Index, err)
		return 0
	}
	// The report ends at EOF, which the kernel delivers when this process
	// exits; closing explicitly would let the parent race the exit.
	for len(data) > 0 {
		n, err := report.Write(data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ktstar worker %d: write report: %v\n", w.spec.Index, err)
			return 0
		}
		data = data[n:]
	}
	return 0
}

// setup reads the spec, maps shared memory and runs the prologue in
// ktstr's order (runtime.md §4.6): affinity, policy, mempolicy, nice, comm, gid,
// uid, NUMA node.
func setup() (*Worker, error) {
	specFile := os.NewFile(fdSpec, "spec")
	var spec workerSpec
	if err := json.NewDecoder(specFile).Decode(&spec); err != nil {
		return nil, fmt.Errorf("decode worker spec: %w", err)
	}
	specFile.Close()
	shm, err := unix.Mmap(fdShm, 0, spec.ShmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map shared memory (%d bytes): %w", spec.ShmSize, err)
	}
	unix.Close(fdShm)
	w := newWorker(spec, shm, cpuReader())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		<-sig
		w.sigDone.Store(true)
	}()

	if err := w.prologue(); err != nil {
		return nil, err
	}
	if err := applyIDs(spec.UID, spec.GID); err != nil {
		return nil, err
	}
	if err := applyNode(spec.NodeCPUs); err != nil {
		return nil, err
	}
	return w, nil
}

// prologue applies the settings of the spec that act on the calling
// thread, in ktstr's order (runtime.md §4.6 steps 2–6): affinity, policy,
// mempolicy, nice, comm. Every call names the calling thread (pid 0), so
// a thread host's worker threads each run it for themselves.
func (w *Worker) prologue() error {
	spec := &w.spec
	if len(spec.CPUs) > 0 {
		if err := pin(0, spec.CPUs); err != nil {
			w.affinityErr = err.Error()
		}
	}
	if err := applyPolicy(spec.Policy); err != nil {
		return err
	}
	if spec.Policy.Kind == PolicyExt {
		w.schedExt = extClass()
	}
	if err := applyMemPolicy(spec.MemPolicy); err != nil {
		return err
	}
	if spec.Nice != nil {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *spec.Nice); err != nil {
			return fmt.Errorf("setpriority(nice = %d): %w", *spec.Nice, err)
		}
	}
	if spec.Comm != "" {
		return setComm(spec.Comm)
	}
	return nil
}

// setComm names the calling thread (PR_SET_NAME); on a thread-group
// leader that is the process's comm too.
func setComm(comm string) error {
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(unsafe.StringData(comm+"\x00"))), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NAME, %q): %w", comm, err)
	}
	return nil
}

// errGateCancelled is waitStartGate's answer when the handle closed
// without starting: the worker exits quietly.
var errGateCancelled = errors.New("start gate cancelled")

// waitStartGate waits on the gate word in shm until the parent opens it
// and returns the parent's start stamp. Waits are bounded (signals, such as
// a partner's SignalStorm starting early, just wake it). Once Spawn has
// seen every worker park it may wait limit more; then it gives up with an
// error naming the gate, which the worker sends to the parent so that its
// report says why it did nothing. Before that the parent is still spawning
// (which it bounds itself) and the worker dies with it if it dies.
func waitStartGate(shm []byte, limit time.Duration) (int64, error) {
	gate := (*uint32)(unsafe.Pointer(&shm[offGate]))
	for {
		state := atomic.LoadUint32(gate)
		switch state {
		case gateOpen:
			futexWakeN(gate, gateFanout) // pass the wake on
			return atomic.LoadInt64((*int64)(unsafe.Pointer(&shm[offStartNs]))), nil
		case gateCancel:
			futexWakeN(gate, gateFanout)
			return 0, errGateCancelled
		case gateParked:
			parked := atomic.LoadInt64((*int64)(unsafe.Pointer(&shm[offParkedNs])))
			if nanotime()-parked >= int64(limit) {
				return 0, fmt.Errorf("start gate: not opened within %v after the spawn (the run never started it)", limit)
			}
		}
		// A second at a time: opening or cancelling the gate wakes every
		// waiter at once, so this only bounds the check of the limit.
		futexWaitLong(gate, state, time.Second)
	}
}
