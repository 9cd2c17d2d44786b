package workload

import (
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// begin fixes where every window of the report starts: start is when the
// parent opened the gate (the stamp in shared memory), so the wall time,
// the off-CPU time and the first gap include however long this worker
// waited to run after that. The CPU-time and schedstat baselines are read
// now, as the worker first runs past the gate; it used no CPU before.
func (w *Worker) begin(start int64) {
	w.start = start
	w.sched0, _ = readSchedstat(unix.Gettid())
	w.vm0 = readVmstatMigrated()
	w.cpu0 = threadCPUTime()
}

// run executes the loop until stop and builds the report. Nothing in the
// loop or its tail allocates, except growth of the migration list and
// phases beyond phaseReserve.
func (w *Worker) run(body Body) Report {
	if w.start == 0 { // a worker built in-process, without a gate
		w.begin(nanotime())
	}
	if w.ph.done == nil {
		w.reservePhases(w.wakeHist != nil)
	}
	// Heap objects and the Go runtime's OS threads: a thread the runtime
	// makes during the loop (for a thread team's hand-offs) allocates, and
	// that is the runtime's doing, not the body's.
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/sched/threads/total:threads"}}
	metrics.Read(allocs)
	allocs0, threads0 := allocs[0].Value.Uint64(), allocs[1].Value.Uint64()
	if w.spec.Warmup > 0 {
		w.warmEnd = w.start + int64(w.spec.Warmup)
	}
	w.lastCheck = w.start
	w.lastPublish = w.start
	w.lastCPU = w.cpu()
	w.maxGapCPU = w.lastCPU
	markCPU(&w.cpus, w.lastCPU)
	w.beginPhases(w.start, w.lastCPU)

	for !w.Stopped() {
		if !body.Step() {
			break
		}
		w.tail()
	}

	end := nanotime()
	// The last interval counts as a gap too: a worker that never ran
	// before the stop has one gap, the whole run.
	if gap := end - w.lastCheck; !w.warming() {
		if gap > w.maxGap {
			w.maxGap, w.maxGapCPU, w.maxGapAt = gap, w.lastCPU, end-w.start
		}
		w.ph.gap(gap, w.lastCPU)
	}
	cpuNow := threadCPUTime()
	cpu := cpuNow - w.cpu0
	metrics.Read(allocs)
	atomic.StoreUint64(w.slot, w.iterations)
	sched1, _ := readSchedstat(unix.Gettid())
	phases := w.endPhases(end, cpuNow, sched1)
	r := Report{
		Tid:                      unix.Gettid(),
		WorkGroup:                w.spec.Group,
		WorkUnits:                w.units,
		Iterations:               w.iterations,
		CPUTimeNs:                uint64(max(cpu, 0)),
		WallTimeNs:               uint64(end - w.start),
		MigrationCount:           w.migCount,
		Migrations:               w.migrations,
		CPUsUsed:                 usedCPUs(&w.cpus),
		MaxGapMs:                 uint64(w.maxGap / int64(time.Millisecond)),
		MaxGapCPU:                w.maxGapCPU,
		MaxGapAtMs:               uint64(w.maxGapAt / int64(time.Millisecond)),
		WakeLatenciesNs:          w.wake.s,
		WakeSampleTotal:          w.wake.total,
		SampleKind:               w.kind,
		IterationCostsNs:         w.costs.s,
		IterationCostSampleTotal: w.costs.total,
		TimerLatenciesNs:         w.timer.s,
		TimerSampleTotal:         w.timer.total,
		SchedstatCPUTimeNs:       sub(sched1.CPUTimeNs, w.sched0.CPUTimeNs),
		SchedstatRunDelayNs:      sub(sched1.RunDelayNs, w.sched0.RunDelayNs),
		SchedstatRunCount:        sub(sched1.RunCount, w.sched0.RunCount),
		NumaPages:                readNumaPages(),
		VmstatNumaPagesMigrated:  sub(readVmstatMigrated(), w.vm0),
		Completed:                true,
		IsMessenger:              w.work.Type().Messenger && w.spec.Pos == 0,
		AffinityError:            w.affinityErr,
		Cgroup:                   w.cgroup,
		Counters:                 w.counters,
		LoopAllocs:               allocs[0].Value.Uint64() - allocs0,
		LoopNewThreads:           sub(allocs[1].Value.Uint64(), threads0),
		PhaseSlices:              phases,
	}
	if r.WallTimeNs > r.CPUTimeNs {
		r.OffCPUNs = r.WallTimeNs - r.CPUTimeNs
	}
	if r.WakeLatenciesNs == nil {
		r.WakeLatenciesNs = []uint64{}
	}
	if w.wakeHist != nil {
		sum := w.wakeHist.Summarize(WakePercentiles)
		r.WakeStats = &sum
		r.WakeLatenciesNote = wakeNote(len(r.WakeLatenciesNs), r.WakeSampleTotal)
	}
	if r.IterationCostsNs == nil {
		r.IterationCostsNs = []uint64{}
	}
	if r.TimerLatenciesNs == nil {
		r.TimerLatenciesNs = []uint64{}
	}
	if w.timerHist != nil {
		s := w.timerHist.Summarize(TimerPercentiles)
		r.TimerStats = &s
	}
	if f, ok := body.(Finisher); ok {
		f.Finish(&r)
	}
	if len(r.Counters) == 0 {
		r.Counters = nil
	}
	r.Saturated = saturated(&r)
	return r
}

// saturated names the counts of r that reached CounterMax, sorted.
func saturated(r *Report) []string {
	var out []string
	if r.WorkUnits >= CounterMax {
		r.WorkUnits = CounterMax
		out = append(out, "work_units")
	}
	if r.Iterations >= CounterMax {
		r.Iterations = CounterMax
		out = append(out, "iterations")
	}
	for k, v := range r.Counters {
		if v >= CounterMax {
			r.Counters[k] = CounterMax
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// tail runs after every outer iteration: publish progress at most once a
// millisecond, and checkpoint whenever work_units is a multiple of 1024 or
// the phase epoch changed (one relaxed load, compared with the phase under
// way).
func (w *Worker) tail() {
	w.iterations++
	now := nanotime()
	if now-w.lastPublish >= publishEvery {
		atomic.StoreUint64(w.slot, w.iterations)
		w.lastPublish = now
	}
	epoch := atomic.LoadUint32(w.ph.epoch)
	if w.units&checkpointMask != 0 && epoch == w.ph.cur {
		return
	}
	if gap := now - w.lastCheck; !w.warming() {
		if gap > w.maxGap {
			w.maxGap, w.maxGapCPU, w.maxGapAt = gap, w.lastCPU, now-w.start
		}
		w.ph.gap(gap, w.lastCPU)
	}
	w.lastCheck = now
	cpu := w.cpu()
	if epoch != w.ph.cur {
		// The phase ends before this reading (ktstr's after it): the CPU
		// is read once the change is seen, so it starts the next phase,
		// and a move a scenario made between its two epoch writes (a
		// cpuset swap) never shows in the phase before.
		w.closePhase(now, threadCPUTime(), w.ph.readSched(), epoch, cpu)
	}
	markCPU(&w.ph.cpus, cpu)
	if cpu != w.lastCPU {
		w.migCount++
		markCPU(&w.cpus, cpu)
		w.migrations = append(w.migrations, Migration{AtNs: uint64(now - w.start), FromCPU: w.lastCPU, ToCPU: cpu})
		w.lastCPU = cpu
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
