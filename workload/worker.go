package workload

import (
	"cmp"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/internal/kernfs"
)

// Worker-side pacing of the loop's bookkeeping.
const (
	publishEvery   = int64(time.Millisecond)
	checkpointMask = 1024 - 1
)

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
	// ReportFD and FDBase place a thread host's workers' descriptors: its
	// report pipe, and the first of its pipes and GroupFiles. Zero in a
	// worker process of its own, whose are at the fixed fdReport and
	// fdPipeR.
	ReportFD int `json:"report_fd,omitempty"`
	FDBase   int `json:"fd_base,omitempty"`
	// Hosted is how many workers share the worker's process (a thread
	// host); 0 in a worker process of its own.
	Hosted int `json:"hosted,omitempty"`
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
	schedExt    string // Report.SchedExt
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

// SpinBurst does n spin steps, adding a work unit for each. A burst
// longer than spinChunk looks at the stop word between chunks and ends
// early at the stop: a worker starved of CPU would otherwise finish a
// maxSpinIters burst (half a second at full speed) long after the stop
// deadline.
func (w *Worker) SpinBurst(n uint64) {
	for ; n > spinChunk; n -= spinChunk {
		if w.Stopped() {
			return
		}
		spin(&w.units, spinChunk)
	}
	spin(&w.units, n)
}

// spinChunk is how many spin steps SpinBurst takes between looks at the
// stop word: about 2 ms at full speed.
const spinChunk = 1 << 16

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

// newWorker builds the worker state for spec over the mapped shared memory
// shm, with the descriptors at their inherited numbers, reading its CPU
// with cpu (cpuReader: a thread host asks once for all its threads, since
// cpuid traps to the hypervisor in a VM). It does not touch
// the calling thread, so tests can build in-process workers with it.
func newWorker(spec workerSpec, shm []byte, cpu func() int) *Worker {
	w := &Worker{
		spec:     spec,
		work:     spec.Work,
		shm:      shm,
		stop:     (*uint32)(unsafe.Pointer(&shm[offStop])),
		ph:       phaseState{epoch: (*uint32)(unsafe.Pointer(&shm[offEpoch]))},
		slot:     (*uint64)(unsafe.Pointer(&shm[spec.Slot])),
		rfd:      -1,
		wfd:      -1,
		cpu:      cpu,
		counters: map[string]uint64{},
	}
	if t := spec.Work.Type(); t.Region > 0 {
		w.region = shm[spec.Region : spec.Region+t.Region]
	}
	next := cmp.Or(spec.FDBase, fdPipeR)
	if spec.HasPipes {
		w.rfd, w.wfd = next, next+1
		next += 2
	}
	for i := range spec.GroupFiles {
		w.gfds = append(w.gfds, next+i)
	}
	w.seed()
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

// seed seeds the worker's random numbers from the calling thread's tid
// with the golden-ratio constant.
func (w *Worker) seed() {
	w.rng = uint64(unix.Gettid()) * 0x9E3779B97F4A7C15
	if w.rng == 0 {
		w.rng = 0x9E3779B97F4A7C15
	}
}
