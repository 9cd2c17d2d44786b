package workload

import (
	"fmt"
	"math/bits"
	"slices"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/kernfs"
)

// Per-phase slices (runtime.md §5.5). A scenario writes its phase into the
// epoch word of every backdrop handle's shared memory: step k+1 when step
// k starts, PhaseGap when it ends. Each worker compares the word with the
// phase it is in once per loop iteration (one relaxed load) and, when it
// changed, closes the phase into a PhaseSlice and starts the next. Only a
// worker that saw a change reports slices.

// Phase epochs with a meaning of their own; step k is phase k+1.
const (
	PhaseBaseline uint32 = 0          // before the scenario's first step
	PhaseGap      uint32 = 0xFFFFFFFF // between two steps, and after the last
)

// MaxPhaseSamples caps the wake-sample reservoir of each phase slice.
const MaxPhaseSamples = 8192

// phaseReserve is how many phases a worker's slice state is reserved for
// before its loop: a baseline, then a step and a gap for each of 15 steps.
// A worker that sees more allocates at each further phase change, which
// its report's loop_allocs counts.
const phaseReserve = 32

// PhaseSlice is what one worker measured over one phase of a scenario:
// the deltas of its report's figures between two changes of the epoch
// word. The iterations of a worker's slices sum to its report's, before
// the parent drops the baseline and gap slices (StepSlices).
type PhaseSlice struct {
	// PhaseEpoch is the phase that ended: step k is k+1 (PhaseBaseline
	// and PhaseGap slices are dropped by the parent).
	PhaseEpoch uint32 `json:"phase_epoch"`
	WorkUnits  uint64 `json:"work_units"`
	Iterations uint64 `json:"iterations"`
	CPUTimeNs  uint64 `json:"cpu_time_ns"` // Δ thread CPU time
	WallNs     uint64 `json:"wall_ns"`
	OffCPUNs   uint64 `json:"off_cpu_ns"` // wall − cpu, floored at 0
	// MigrationCount counts the CPU changes seen at the phase's
	// checkpoints; CPUsUsed is every CPU seen, from the one the phase
	// started on.
	MigrationCount uint64 `json:"migration_count"`
	CPUsUsed       []int  `json:"cpus_used"`
	MaxGapMs       uint64 `json:"max_gap_ms"` // the phase's longest checkpoint gap
	MaxGapCPU      int    `json:"max_gap_cpu"`
	// WakeLatenciesNs is a uniform reservoir (at most MaxPhaseSamples) of
	// the phase's WakeSampleTotal wake samples.
	WakeLatenciesNs     []uint64 `json:"wake_latencies_ns"`
	WakeSampleTotal     uint64   `json:"wake_sample_total"`
	SchedstatCPUTimeNs  uint64   `json:"schedstat_cpu_time_ns"`  // 0 without schedstats
	SchedstatRunDelayNs uint64   `json:"schedstat_run_delay_ns"` // 0 without schedstats
	SchedstatRunCount   uint64   `json:"schedstat_run_count"`    // 0 without schedstats
}

// Step reports whether the slice is a step's (neither baseline nor gap),
// and which.
func (s *PhaseSlice) Step() (int, bool) {
	if s.PhaseEpoch == PhaseBaseline || s.PhaseEpoch == PhaseGap {
		return 0, false
	}
	return int(s.PhaseEpoch) - 1, true
}

// StepSlices keeps the slices of steps, dropping baseline and gap ones;
// nil when none is left.
func StepSlices(ss []PhaseSlice) []PhaseSlice {
	var out []PhaseSlice
	for _, s := range ss {
		if _, ok := s.Step(); ok {
			out = append(out, s)
		}
	}
	return out
}

// stepSlices is what the parent keeps of a worker's slices: one per step
// epoch the handle wrote (steps, in order), the worker's own or, for a
// step it never ran in (it saw no change then), an empty one. So a
// report's PhaseSlices[k] is always the k-th step's.
func stepSlices(ss []PhaseSlice, steps []uint32) []PhaseSlice {
	if len(steps) == 0 {
		return StepSlices(ss)
	}
	out := make([]PhaseSlice, len(steps))
	for i, e := range steps {
		out[i] = PhaseSlice{PhaseEpoch: e, CPUsUsed: []int{}, WakeLatenciesNs: []uint64{}}
		for _, s := range ss {
			if s.PhaseEpoch == e {
				out[i] = s
			}
		}
	}
	return out
}

// StepReport is r restricted to step k: a report whose figures are those
// of r's slice for step k, with r's identity (tid, groups, cgroup, sample
// kind), so that whatever reads reports (checks, the summary, stats) reads
// it. False when r has no slice for step k.
func (r *Report) StepReport(k int) (Report, bool) {
	for i := range r.PhaseSlices {
		s := &r.PhaseSlices[i]
		if n, ok := s.Step(); !ok || n != k {
			continue
		}
		out := Report{
			Tid: r.Tid, GroupIdx: r.GroupIdx, WorkGroup: r.WorkGroup, IsMessenger: r.IsMessenger, Cgroup: r.Cgroup,
			Completed: r.Completed, AffinityError: r.AffinityError, NumaPages: map[int]uint64{},
			WorkUnits: s.WorkUnits, Iterations: s.Iterations, CPUTimeNs: s.CPUTimeNs, WallTimeNs: s.WallNs, OffCPUNs: s.OffCPUNs,
			MigrationCount: s.MigrationCount, CPUsUsed: s.CPUsUsed, MaxGapMs: s.MaxGapMs, MaxGapCPU: s.MaxGapCPU,
			WakeLatenciesNs: s.WakeLatenciesNs, WakeSampleTotal: s.WakeSampleTotal,
			SchedstatCPUTimeNs: s.SchedstatCPUTimeNs, SchedstatRunDelayNs: s.SchedstatRunDelayNs, SchedstatRunCount: s.SchedstatRunCount,
			IterationCostsNs: []uint64{}, TimerLatenciesNs: []uint64{},
		}
		if s.WakeSampleTotal > 0 {
			out.SampleKind = r.SampleKind
		}
		if out.WakeLatenciesNs == nil {
			out.WakeLatenciesNs = []uint64{}
		}
		return out, true
	}
	return Report{}, false
}

// SetPhaseEpoch writes e into the handle's epoch word: every worker closes
// the phase it is in at its next loop iteration and starts phase e. It
// does nothing once the handle is closed.
func (h *Handle) SetPhaseEpoch(e uint32) {
	if h.shm == nil {
		return
	}
	if e != PhaseBaseline && e != PhaseGap && !slices.Contains(h.steps, e) {
		h.steps = append(h.steps, e)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&h.shm[offEpoch])), e)
}

// phaseState is a worker's current phase and the slices it closed. It is
// reserved before the loop (reservePhases), so closing a phase allocates
// nothing within phaseReserve phases.
type phaseState struct {
	epoch *uint32 // the shared epoch word (own, for a worker without one)
	own   uint32  // the word of a worker built without shared memory
	cur   uint32  // the phase under way, as last read from the word
	seen  bool    // a change was observed: the report carries slices

	// Baselines at the phase's start.
	t0, cpu0     int64
	units0, it0  uint64
	mig0         uint64
	sched0       kernfs.Schedstat
	maxGap       int64
	maxGapCPU    int
	cpus         [16]uint64 // CPUs seen in the phase, as Worker.cpus
	wake         reservoir  // the phase's wake samples, MaxPhaseSamples
	samplesArena []uint64   // the closed phases' reservoirs, MaxPhaseSamples each

	done []closedPhase

	// schedFd is the worker's schedstat file, open for the loop (-1
	// without schedstats); buf holds one read of it.
	schedFd int
	buf     [128]byte
}

// closedPhase is a PhaseSlice whose CPU list is still a bitset, so that
// closing a phase in the loop allocates nothing.
type closedPhase struct {
	PhaseSlice
	cpus [16]uint64
}

// reservePhases allocates the slice state before the loop: records for
// phaseReserve phases and, for a type that records wake samples, their
// reservoirs (untouched until used).
func (w *Worker) reservePhases(samples bool) {
	p := &w.ph
	p.done = make([]closedPhase, 0, phaseReserve)
	if samples {
		p.wake = newReservoir(MaxPhaseSamples)
		p.samplesArena = make([]uint64, 0, phaseReserve*MaxPhaseSamples)
	}
}

// beginPhases reads the epoch word and takes the first phase's baselines,
// as the loop starts; cpu is the CPU it starts on.
func (w *Worker) beginPhases(now int64, cpu int) {
	p := &w.ph
	if p.epoch == nil {
		p.epoch = &p.own
	}
	p.schedFd = -1
	if fd, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/schedstat", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		p.schedFd = fd
	}
	p.cur = atomic.LoadUint32(p.epoch)
	p.rebase(w, now, w.cpu0, w.sched0, cpu)
}

// rebase starts a phase at now, with the thread CPU time cpuNs, the
// schedstat ss and the current CPU cpu.
func (p *phaseState) rebase(w *Worker, now, cpuNs int64, ss kernfs.Schedstat, cpu int) {
	p.t0, p.cpu0, p.sched0 = now, cpuNs, ss
	p.units0, p.it0, p.mig0 = w.units, w.iterations, w.migCount
	p.maxGap, p.maxGapCPU = 0, cpu
	p.cpus = [16]uint64{}
	markCPU(&p.cpus, cpu)
	p.wake.s, p.wake.total = p.wake.s[:0], 0
}

// readSched reads the schedstat file into buf without allocating; zero
// when it cannot.
func (p *phaseState) readSched() kernfs.Schedstat {
	if p.schedFd < 0 {
		return kernfs.Schedstat{}
	}
	n, err := unix.Pread(p.schedFd, p.buf[:], 0)
	if err != nil || n <= 0 {
		return kernfs.Schedstat{}
	}
	ss, _ := kernfs.ParseSchedstatBytes(p.buf[:n])
	return ss
}

// gap records a checkpoint gap that ended at a checkpoint on cpu.
func (p *phaseState) gap(gap int64, cpu int) {
	if gap > p.maxGap {
		p.maxGap, p.maxGapCPU = gap, cpu
	}
}

// closePhase ends the phase under way at now (with the thread CPU time
// cpuNs and schedstat ss of that moment) and starts phase next on CPU cpu.
func (w *Worker) closePhase(now, cpuNs int64, ss kernfs.Schedstat, next uint32, cpu int) {
	p := &w.ph
	c := closedPhase{cpus: p.cpus}
	c.PhaseSlice = PhaseSlice{
		PhaseEpoch:          p.cur,
		WorkUnits:           w.units - p.units0,
		Iterations:          w.iterations - p.it0,
		CPUTimeNs:           uint64(max(cpuNs-p.cpu0, 0)),
		WallNs:              uint64(max(now-p.t0, 0)),
		MigrationCount:      w.migCount - p.mig0,
		MaxGapMs:            uint64(p.maxGap / 1e6),
		MaxGapCPU:           p.maxGapCPU,
		WakeSampleTotal:     p.wake.total,
		SchedstatCPUTimeNs:  sub(ss.CPUTimeNs, p.sched0.CPUTimeNs),
		SchedstatRunDelayNs: sub(ss.RunDelayNs, p.sched0.RunDelayNs),
		SchedstatRunCount:   sub(ss.RunCount, p.sched0.RunCount),
	}
	if c.WallNs > c.CPUTimeNs {
		c.OffCPUNs = c.WallNs - c.CPUTimeNs
	}
	if n := len(p.wake.s); n > 0 {
		if len(p.samplesArena)+n <= cap(p.samplesArena) {
			at := len(p.samplesArena)
			p.samplesArena = append(p.samplesArena, p.wake.s...)
			c.WakeLatenciesNs = p.samplesArena[at : at+n : at+n]
		} else {
			c.WakeLatenciesNs = append([]uint64(nil), p.wake.s...)
		}
	}
	p.done = append(p.done, c)
	p.cur, p.seen = next, true
	p.rebase(w, now, cpuNs, ss, cpu)
}

// endPhases closes the phase still open at the loop's end (with the end
// snapshots of the whole report) when the worker saw a change, closes
// the schedstat file and returns the slices.
func (w *Worker) endPhases(end, cpuNs int64, ss kernfs.Schedstat) []PhaseSlice {
	p := &w.ph
	if p.schedFd >= 0 {
		unix.Close(p.schedFd)
		p.schedFd = -1
	}
	if !p.seen {
		return nil
	}
	w.closePhase(end, cpuNs, ss, p.cur, w.lastCPU)
	out := make([]PhaseSlice, len(p.done))
	for i := range p.done {
		out[i] = p.done[i].PhaseSlice
		out[i].CPUsUsed = usedCPUs(&p.done[i].cpus)
		if out[i].WakeLatenciesNs == nil {
			out[i].WakeLatenciesNs = []uint64{}
		}
	}
	return out
}

// markCPU adds cpu to the bitset set (1024 CPUs).
func markCPU(set *[16]uint64, cpu int) {
	if cpu >= 0 && cpu < len(set)*64 {
		set[cpu/64] |= 1 << (cpu % 64)
	}
}

// usedCPUs lists the CPUs of a bitset in order, [] for none.
func usedCPUs(set *[16]uint64) []int {
	out := []int{}
	for i, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, i*64+b)
			word &^= 1 << b
		}
	}
	return out
}
