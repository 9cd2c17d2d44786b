package workload

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/hist"
)

// Step is one wait of schbench's main thread: until the next one-second
// tick or stopPoll, whichever comes first; at a tick it samples RPS,
// clears for warm-up or zero-time, keeps an interim line and rescales the
// auto-RPS rate (spec A.12).
func (s *schbench) Step() bool {
	if !s.started {
		s.started = true
		s.startUs = nowUs()
		s.nextUs, s.lastRPSUs, s.lastCalcUs, s.zeroUs = s.startUs+usecPerSec, s.startUs, s.startUs, s.startUs
		if s.auto > 0 {
			s.readBusy() // the baseline
		}
		s.team.open()
	}
	now := nowUs()
	if now < s.nextUs {
		sleepFull(min(time.Duration(s.nextUs-now)*time.Microsecond, stopPoll))
		return true
	}
	// The next tick is a second after this one, as upstream's sleep(1)
	// between passes makes it: every RPS sample covers at least a second,
	// however late a tick ran.
	s.nextUs = now + usecPerSec
	s.tick(now)
	return true
}

func (s *schbench) loops() uint64 {
	var n uint64
	for _, th := range s.workers {
		n += th.loops.Load()
	}
	return n
}

func (s *schbench) tick(now int64) {
	loops := s.loops()
	s.w.AddUnits(loops - s.units)
	s.units = loops
	if !s.rpsMode && s.pipe == 0 && s.warmup > 0 && !s.warmupDone && now-s.startUs > s.warmup {
		s.warmupDone = true
		s.zeroUs = now
		s.reset()
	} else if s.pipe == 0 {
		rps := s.sampleRPS(now, loops)
		if s.interval > 0 && now-s.lastCalcUs >= s.interval {
			s.lastCalcUs = now
			s.interim(now, rps)
		}
	}
	if s.zero > 0 && now-s.zeroUs > s.zero {
		s.zeroUs = now
		s.reset()
	}
	if s.auto > 0 {
		s.autoScale()
	}
}

// sampleRPS records Δloops·10⁶/Δµs (truncated, as upstream stores it).
func (s *schbench) sampleRPS(now int64, loops uint64) float64 {
	rps := float64((loops-s.lastLoops)*usecPerSec) / float64(now-s.lastRPSUs)
	s.lastLoops, s.lastRPSUs = loops, now
	if math.IsNaN(rps) || math.IsInf(rps, 0) {
		rps = 0
	}
	if s.auto == 0 || s.hit {
		s.rps.Record(uint64(rps))
	}
	return rps
}

// reset clears every worker's histograms and the RPS histogram; loop
// counters stay, as upstream.
func (s *schbench) reset() {
	s.rps.Reset()
	for _, th := range s.workers {
		th.wakeup.Reset()
		th.request.Reset()
	}
}

// merge folds every worker's histograms into mergedW and mergedR.
func (s *schbench) merge() {
	s.mergedW.Reset()
	s.mergedR.Reset()
	for _, th := range s.workers {
		s.mergedW.Merge(th.wakeup)
		s.mergedR.Merge(th.request)
	}
}

// interim keeps one interval line (only when interval_secs asks for them).
func (s *schbench) interim(now int64, rps float64) {
	s.merge()
	var pw, pr, pp [5]hist.Pick
	s.mergedW.PercentilesInto(pw[:], hist.SchbenchPercentiles)
	s.mergedR.PercentilesInto(pr[:], hist.SchbenchPercentiles)
	s.rps.PercentilesInto(pp[:], hist.SchbenchPercentiles)
	var msg, wrk float64
	for _, th := range s.all {
		ss, err := readSchedstat(int(th.tid.Load()))
		if err != nil || ss.RunCount == 0 {
			continue
		}
		d := float64(ss.RunDelayNs/ss.RunCount) / 1000
		if th.msg == nil {
			msg += d / float64(s.m)
		} else {
			wrk += d / float64(len(s.workers))
		}
	}
	s.intervals = append(s.intervals, SchbenchInterval{
		AtS: float64(now-s.startUs) / usecPerSec, WakeupP50: pw[1].Value, WakeupP99: pw[3].Value,
		RequestP50: pr[1].Value, RequestP99: pr[3].Value, RPSP50: pp[1].Value, CurrentRPS: rps,
		SchedDelayMsgUs: msg, SchedDelayWorkerUs: wrk,
	})
}

// readBusy returns the busy % of all CPUs since the previous call, from
// the aggregate line of /proc/stat (0 on the first call, which only sets
// the baseline).
func (s *schbench) readBusy() float32 {
	n, err := unix.Pread(s.statFd, s.statBuf[:len(s.statBuf)-1], 0)
	if err != nil || n <= 0 {
		return 0
	}
	line, _, _ := bytes.Cut(s.statBuf[:n], []byte{'\n'})
	var total, idle uint64
	for i, f := range bytes.Fields(line) {
		if i == 0 {
			continue
		}
		v, _ := strconv.ParseUint(string(f), 10, 64)
		if i == 4 {
			idle = v
		}
		total += v
	}
	if s.total == 0 {
		s.total, s.idle = total, idle
		return 0
	}
	d, di := total-s.total, idle-s.idle
	s.total, s.idle = total, idle
	return 100 - float32(di)/float32(d)*100
}

// autoScale is upstream's controller (spec A.7), in its float arithmetic:
// float32 values compared with double constants.
func (s *schbench) autoScale() {
	busy := s.readBusy()
	rate := float32(s.rate.Load())
	target := rate
	hit := func() {
		if !s.hit {
			s.hit = true
			s.rps.Reset()
		}
	}
	switch auto := float32(s.auto); {
	case busy < auto:
		delta := auto / busy
		switch {
		case delta > 3:
			delta = 3
		case float64(delta) < 1.2:
			delta = 1 + (delta-1)/8
			if float64(delta) < 1.05 {
				hit()
			}
		case float64(delta) < 1.5:
			delta = 1 + (delta-1)/4
		}
		target = float32(math.Ceil(float64(rate * delta)))
		if target >= 1<<31 {
			target = rate
		}
	case busy > auto:
		delta := auto / busy
		switch {
		case float64(delta) < 0.3:
			delta = 0.3
		case float64(delta) > .9:
			delta += (1 - delta) / 8
			if float64(delta) > .95 {
				hit()
			}
		case float64(delta) > .8:
			delta += (1 - delta) / 4
		}
		target = max(float32(math.Floor(float64(rate*delta))), 0)
	default:
		hit()
	}
	s.rate.Store(int64(target))
}

// shutdown stops every thread and reaps them; it reports whether all
// exited. Message threads are posted so they leave their wait at once.
func (s *schbench) shutdown() bool {
	if s.stopUs == 0 {
		s.stopUs = nowUs()
	}
	s.team.stop()
	for _, m := range s.msgs {
		s.post(m)
	}
	return s.team.reap()
}

// Finish stops and reaps the threads, then merges their histograms into
// Report.Schbench; work_units is the number of completed requests.
func (s *schbench) Finish(r *Report) {
	now := nowUs()
	s.stopUs = now
	if s.started && s.pipe == 0 && now-s.lastRPSUs >= usecPerSec/2 {
		s.sampleRPS(now, s.loops())
	}
	if !s.shutdown() {
		r.Counters["schbench_threads_not_reaped"] = 1
	}
	s.merge()
	loops := s.loops()
	rep := &SchbenchReport{
		Mode: s.mode(), MessageThreads: s.m, WorkerThreads: s.t,
		Wakeup: schbenchHist(s.mergedW), Request: schbenchHist(s.mergedR), RPS: schbenchHist(s.rps),
		Requests: loops, Intervals: s.intervals,
	}
	if s.started {
		rep.ElapsedS = float64(s.stopUs-s.startUs) / usecPerSec
	}
	if rep.ElapsedS > 0 {
		rep.AverageRPS = float64(loops) / rep.ElapsedS
	}
	for _, th := range s.workers {
		rep.LockContended += th.contended.Load()
	}
	for _, m := range s.msgs {
		rep.Issued += m.issued.Load()
		rep.Skipped += m.skipped.Load()
	}
	if s.auto > 0 {
		rep.RPSGoal = uint64(s.rate.Load()) * uint64(s.m)
	}
	var runUs int64
	var msgN, wrkN float64
	for _, th := range s.all {
		if th.slices == 0 {
			continue
		}
		d := float64(th.delayNs/th.slices) / 1000
		if th.msg == nil {
			rep.SchedDelayMsgUs += d
			msgN++
		} else {
			rep.SchedDelayWorkerUs += d
			wrkN++
		}
	}
	rep.SchedDelayMsgUs /= max(msgN, 1)
	rep.SchedDelayWorkerUs /= max(wrkN, 1)
	if s.pipe > 0 {
		p := &SchbenchPipe{TransferBytes: uint64(s.pipe)}
		for _, th := range s.all {
			if th.msg == nil {
				p.MessageWrites += th.pageW.Load()
			} else {
				p.WorkerWrites += th.pageW.Load()
				runUs += th.runUs.Load()
			}
		}
		p.Bytes = (p.MessageWrites + p.WorkerWrites) * p.TransferBytes
		if runUs > 0 {
			p.OpsPerSec = float64(loops) * usecPerSec / float64(runUs)
			p.BytesPerSec = p.OpsPerSec * float64(s.pipe)
		}
		rep.Pipe = p
	}
	r.WorkUnits = loops
	r.Schbench = rep
}

func (s *schbench) mode() string {
	switch {
	case s.pipe > 0:
		return "pipe"
	case s.auto > 0:
		return "auto_rps"
	case s.rpsMode:
		return "rps"
	}
	return "saturate"
}

// Close stops and reaps the threads if Finish did not, and gives back
// the matrices (only once no thread can touch them), GOMAXPROCS and
// /proc/stat.
func (s *schbench) Close() {
	if s.shutdown() {
		for _, th := range s.workers {
			sbFree(th.data)
			th.data = nil
		}
		sbFree(s.shared)
		s.shared = nil
	}
	s.team.close()
	if s.statFd >= 0 {
		unix.Close(s.statFd)
		s.statFd = -1
	}
}
