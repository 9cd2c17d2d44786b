package workload

// SampleKind names what one wake sample measures. Each catalog type
// declares the kind its body records ([Type.Sample]); the report, the
// summary, the JSON group rows and latency checks carry it, so a figure is
// never read as something it is not.
type SampleKind string

// Sample kinds. The string is what reports, summaries and docs show.
const (
	// SampleWake is one-way wake-to-run latency: the waker stamps
	// CLOCK_MONOTONIC right before its wake (futex wake, pipe write) and
	// the woken records its first look at the clock minus that stamp.
	SampleWake SampleKind = "wake-to-run"
	// SampleWait is a wait for a partner's event, from the start of the
	// wait until the event is seen; it includes the partner's own work.
	SampleWait SampleKind = "wait"
	// SampleOversleep is how much longer a timed sleep took than asked.
	SampleOversleep SampleKind = "oversleep"
	// SampleSleep is a whole sleep, the requested time included.
	SampleSleep SampleKind = "sleep"
	// SampleYield is one sched_yield call.
	SampleYield SampleKind = "yield"
	// SampleLock is one wait for a lock held by another worker.
	SampleLock SampleKind = "lock wait"
	// SampleWaitpid is a fork's wait for its child's exit (fork to reap).
	SampleWaitpid SampleKind = "waitpid"
	// SampleIO is one read, write or sync call on the scratch file.
	SampleIO SampleKind = "io call"
	// SamplePhase is the blocking call of a sequence phase: a sleep phase's
	// whole sleep, a yield phase's sched_yield, an io phase's 100 µs sleep.
	SamplePhase SampleKind = "phase call"
	// SampleChosen is the declared kind of a type whose samples' kind its
	// user function chooses (Custom); a report shows the kind chosen.
	SampleChosen SampleKind = "chosen by the function"
	// SampleMixed marks a worker or group whose samples are of more than
	// one kind; their percentiles mix different things.
	SampleMixed SampleKind = "mixed"
)

// sampleKindDocs explains every kind, for `ktstar doc` and the README.
var sampleKindDocs = map[SampleKind]string{
	SampleWake:      "one-way: the waker stamps the clock right before its wake, the woken records its run time minus that stamp",
	SampleWait:      "from the start of a wait for a partner's event until it is seen (includes the partner's work)",
	SampleOversleep: "time a timed sleep took beyond the requested duration",
	SampleSleep:     "a whole sleep, the requested time included",
	SampleYield:     "one sched_yield call",
	SampleLock:      "one wait for a lock another worker holds",
	SampleWaitpid:   "fork to reap of one child",
	SampleIO:        "one read, write or sync call on the scratch file",
	SamplePhase:     "the blocking call of a phase: a sleep phase's whole sleep, a yield phase's sched_yield, an io phase's 100 µs sleep",
	SampleChosen:    "the function's: ctx.wake_sample(ns, kind) names it, ctx.sleep records oversleep, ctx.sched_yield a yield call",
	SampleMixed:     "samples of more than one kind",
}

// Doc explains what a sample of kind k measures.
func (k SampleKind) Doc() string { return sampleKindDocs[k] }

// SampleKinds lists every kind a sample can have, for scripts that choose
// one (ctx.wake_sample(ns, kind = ...)).
func SampleKinds() []SampleKind {
	return []SampleKind{SampleWake, SampleWait, SampleOversleep, SampleSleep, SampleYield, SampleLock, SampleWaitpid, SampleIO, SamplePhase}
}

// JoinKinds returns the kind of a set of samples whose parts have kinds
// ks: the common kind, SampleMixed when they differ, "" when none has one.
func JoinKinds(ks ...SampleKind) SampleKind {
	var out SampleKind
	for _, k := range ks {
		switch {
		case k == "":
		case out == "":
			out = k
		case out != k:
			return SampleMixed
		}
	}
	return out
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
