package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/internal/kernfs"
)

// Worker-side pacing of the loop's bookkeeping.
const (
	publishEvery   = int64(time.Millisecond)
	checkpointMask = 1024 - 1
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

// workerSpec is everything one worker needs, resolved by the parent.
type workerSpec struct {
	Index    int `json:"index"`     // across every composed group
	GroupIdx int `json:"group_idx"` // the composed group: 0 primary, 1..N composed
	// GroupFirst and GroupLen are the indexes of the composed group's
	// workers: GroupFirst, GroupFirst+1, … (SiblingPids).
	GroupFirst int         `json:"group_first"`
	GroupLen   int         `json:"group_len"`
	Group      int         `json:"group"` // index in the composed group ÷ the type's group size
	Pos        int         `json:"pos"`
	Work       Work        `json:"work"`
	CPUs       []int       `json:"cpus,omitempty"`
	Policy     SchedPolicy `json:"policy"`
	// MemPolicy is applied after Policy, before Nice (runtime.md §4.6).
	MemPolicy MemPolicy `json:"mem_policy,omitzero"`
	Nice      *int      `json:"nice,omitempty"`
	Comm      string    `json:"comm,omitempty"`
	ShmSize   int       `json:"shm_size"`
	Slot      int       `json:"slot"`   // offset of this worker's progress slot
	Region    int       `json:"region"` // offset of its group's shared region, 0 if none
	HasPipes  bool      `json:"has_pipes"`
	Token     string    `json:"token"` // unique per worker: names its scratch files
	// Warmup is Config.Warmup: no samples and no gaps before start + Warmup.
	Warmup time.Duration `json:"warmup,omitempty"`
	// GateLimit is how long the worker waits at the start gate.
	GateLimit time.Duration `json:"gate_limit"`
	// GroupFiles is how many of the type's GroupFiles the worker inherited.
	GroupFiles int `json:"group_files,omitempty"`
	// CgroupDirs are the absolute directories of the handle's own groups
	// (Type.Cgroups), in order.
	CgroupDirs []string `json:"cgroup_dirs,omitempty"`
	// UID, GID and NodeCPUs (the CPUs of Config.NUMANode) are applied
	// last in the prologue (applyIdentity).
	UID      *int  `json:"uid,omitempty"`
	GID      *int  `json:"gid,omitempty"`
	NodeCPUs []int `json:"node_cpus,omitempty"`
}

// Worker is the running worker as its body sees it: the stop check, the
// counters and the timing primitives. One exists per worker process.
type Worker struct {
	spec    workerSpec
	work    Work
	shm     []byte
	stop    *uint32 // shared stop word, set by the parent
	slot    *uint64 // published iteration count
	region  []byte
	rfd     int
	wfd     int
	gfds    []int       // inherited GroupFiles, in the type's order
	sigDone atomic.Bool // set by SIGUSR1

	units      uint64
	iterations uint64

	start       int64 // when the gate opened (the parent's stamp): every window starts here
	warmEnd     int64 // no samples or gaps before this time; 0 once past it
	lastCheck   int64
	lastPublish int64
	lastCPU     int
	cpus        [16]uint64 // bitset of CPUs seen, 1024 CPUs
	migrations  []Migration
	migCount    uint64
	maxGap      int64
	maxGapCPU   int
	maxGapAt    int64

	wake reservoir // wake latencies, reserved when the type has a Sample kind
	// wakeHist holds every wake sample (exact count, min, max, sum and
	// log-linear buckets) beside the reservoir's subsample.
	wakeHist *hist.Hist
	// kind is the kind of the wake samples recorded so far ("" before the
	// first, SampleMixed once two differ); declared is what WakeSample records.
	kind, declared SampleKind
	costs          reservoir // iteration costs, reserved when the type has CostSamples
	timer          reservoir // timer latencies, reserved when the type has TimerSamples
	// timerHist holds every timer sample (exact count, min, max, sum and
	// log-linear buckets) beside the reservoir's subsample.
	timerHist *hist.Hist
	rng       uint64

	cpu func() int // reads the current CPU at checkpoints (cpuReader)

	ph phaseState // the scenario phase under way and the slices closed

	// Baselines read as the worker first ran past the gate (begin).
	cpu0   int64
	sched0 kernfs.Schedstat
	vm0    uint64

	counters    map[string]uint64
	affinityErr string
	cgroup      string // v2 path seen before the loop
}

// Stopped reports whether the worker has been told to stop.
func (w *Worker) Stopped() bool {
	return atomic.LoadUint32(w.stop) != 0 || w.sigDone.Load()
}

// Work returns the worker's resolved work type and parameters.
func (w *Worker) Work() Work { return w.work }

// Pos returns the worker's position inside its group.
func (w *Worker) Pos() int { return w.spec.Pos }

// Now returns CLOCK_MONOTONIC in ns, comparable across workers.
func (w *Worker) Now() int64 { return nanotime() }

// SpinBurst does n spin steps, adding n work units.
func (w *Worker) SpinBurst(n uint64) { spin(&w.units, n) }

// AddUnits adds n work units without doing any work.
func (w *Worker) AddUnits(n uint64) { w.units = satAdd(w.units, n) }

// ResetGap restarts the gap clock after a voluntary block, so that time
// spent blocked is not reported as a scheduling gap.
func (w *Worker) ResetGap() { w.lastCheck = nanotime() }

// Count adds n to a work-type-specific counter reported in Report.Counters.
func (w *Worker) Count(name string, n uint64) { w.counters[name] = satAdd(w.counters[name], n) }

// CounterMax is where work_units and report counters stop: the largest
// value every consumer (an int64, a Starlark or JSON integer) reads
// exactly. A count that reaches it stays there and is named in
// Report.Saturated instead of wrapping round to a small number.
const CounterMax = math.MaxInt64

// satAdd is a + b, saturated at CounterMax.
func satAdd(a, b uint64) uint64 {
	if a >= CounterMax || b >= CounterMax-a {
		return CounterMax
	}
	return a + b
}

// WakeSample records one sample of the work type's declared kind
// ([Type.Sample]) into the reservoir (Vitter's Algorithm R, capped at
// MaxWakeSamples), without allocating.
func (w *Worker) WakeSample(ns int64) { w.Sample(w.declared, ns) }

// Sample records one sample of kind k. Bodies whose samples differ from
// their type's declared kind (a Custom function's choice, a herd waker's
// sleeps) name the kind here; a worker that records two kinds reports
// SampleMixed.
func (w *Worker) Sample(k SampleKind, ns int64) {
	if w.warming() {
		return
	}
	if w.kind != k {
		w.kind = JoinKinds(w.kind, k)
	}
	w.wake.add(ns, &w.rng)
	w.ph.wake.add(ns, &w.rng)
	if w.wakeHist != nil { // nil when the type declares no sample kind
		w.wakeHist.Record(uint64(max(ns, 0)))
	}
}

// costSample records the duration of one compute iteration, for the
// types that declare CostSamples.
func (w *Worker) costSample(ns int64) {
	if !w.warming() {
		w.costs.add(ns, &w.rng)
	}
}

// warming reports whether the run is still in its warm-up; once past it,
// it costs one comparison.
func (w *Worker) warming() bool {
	if w.warmEnd == 0 {
		return false
	}
	if nanotime() < w.warmEnd {
		return true
	}
	w.warmEnd = 0
	return false
}

// timerSample records how late one absolute-deadline timer woke, for the
// types that declare TimerSamples.
func (w *Worker) timerSample(ns int64) {
	if w.warming() {
		return
	}
	w.timer.add(ns, &w.rng)
	w.timerHist.Record(uint64(max(ns, 0)))
}

// reservoir is a uniform sample of at most cap(s) observations (Vitter's
// Algorithm R). Its slice is reserved before the loop, so add never
// allocates.
type reservoir struct {
	s     []uint64
	total uint64 // observations, including dropped ones
}

func newReservoir(n int) reservoir { return reservoir{s: make([]uint64, 0, n)} }

// add records one observation; negative values count as 0.
func (r *reservoir) add(ns int64, rng *uint64) {
	if ns < 0 {
		ns = 0
	}
	r.total++
	if len(r.s) < cap(r.s) {
		r.s = append(r.s, uint64(ns))
		return
	}
	if j := xorshift64(rng) % r.total; j < uint64(len(r.s)) {
		r.s[j] = uint64(ns)
	}
}

// rand is xorshift64, seeded from the tid with the golden-ratio constant.
func (w *Worker) rand() uint64 { return xorshift64(&w.rng) }

// GroupFD returns the descriptor of the i-th file the work type's
// GroupFiles created for this worker's group, or -1 if there is none.
func (w *Worker) GroupFD(i int) int {
	if i < 0 || i >= len(w.gfds) {
		return -1
	}
	return w.gfds[i]
}

// word returns the uint32 at byte offset off of the group's shared region.
func (w *Worker) word(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&w.region[off]))
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
	body, err := w.work.Type().New(w)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", w.work.Name(), err))
	}
	if _, err := report.Write([]byte{byte(msgParked)}); err != nil {
		return 1
	}
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
	w := newWorker(spec, shm)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		<-sig
		w.sigDone.Store(true)
	}()

	if len(spec.CPUs) > 0 {
		if err := pin(0, spec.CPUs); err != nil {
			w.affinityErr = err.Error()
		}
	}
	if err := applyPolicy(spec.Policy); err != nil {
		return nil, err
	}
	if err := applyMemPolicy(spec.MemPolicy); err != nil {
		return nil, err
	}
	if spec.Nice != nil {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *spec.Nice); err != nil {
			return nil, fmt.Errorf("setpriority(nice = %d): %w", *spec.Nice, err)
		}
	}
	if spec.Comm != "" {
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(unsafe.StringData(spec.Comm+"\x00"))), 0, 0, 0); err != nil {
			return nil, fmt.Errorf("prctl(PR_SET_NAME, %q): %w", spec.Comm, err)
		}
	}
	if err := applyIdentity(&spec); err != nil {
		return nil, err
	}
	return w, nil
}

// newWorker builds the worker state for spec over the mapped shared memory
// shm, with the descriptors at their inherited numbers. It does not touch
// the calling thread, so tests can build in-process workers with it.
func newWorker(spec workerSpec, shm []byte) *Worker {
	w := &Worker{
		spec:     spec,
		work:     spec.Work,
		shm:      shm,
		stop:     (*uint32)(unsafe.Pointer(&shm[offStop])),
		ph:       phaseState{epoch: (*uint32)(unsafe.Pointer(&shm[offEpoch]))},
		slot:     (*uint64)(unsafe.Pointer(&shm[spec.Slot])),
		rfd:      -1,
		wfd:      -1,
		cpu:      cpuReader(),
		counters: map[string]uint64{},
	}
	if t := spec.Work.Type(); t.Region > 0 {
		w.region = shm[spec.Region : spec.Region+t.Region]
	}
	next := fdPipeR
	if spec.HasPipes {
		w.rfd, w.wfd = fdPipeR, fdPipeW
		next = fdPipeW + 1
	}
	for i := range spec.GroupFiles {
		w.gfds = append(w.gfds, next+i)
	}
	w.rng = uint64(unix.Gettid()) * 0x9E3779B97F4A7C15
	if w.rng == 0 {
		w.rng = 0x9E3779B97F4A7C15
	}
	if t := w.work.Type(); t.Sample != "" {
		w.wake = newReservoir(MaxWakeSamples)
		w.wakeHist = hist.MustNew(hist.Nanoseconds)
		w.declared = t.Sample
		if w.declared == SampleChosen {
			w.declared = SampleWake // what a Go function's WakeSample means
		}
	}
	if t := w.work.Type(); t.CostSamples {
		w.costs = newReservoir(MaxCostSamples)
	}
	if t := w.work.Type(); t.TimerSamples {
		w.timer = newReservoir(MaxTimerSamples)
		w.timerHist = hist.MustNew(hist.Nanoseconds)
	}
	w.migrations = make([]Migration, 0, 64)
	// Before the type's New: ForkExit marks what exists then MADV_DONTFORK.
	w.reservePhases(w.wakeHist != nil)
	return w
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
