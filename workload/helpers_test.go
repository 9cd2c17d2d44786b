package workload

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/internal/testenv"
)

// runFor spawns cfg (one worker when Workers is 0), starts it, and stops
// it once every worker has published at least one iteration and at least
// window has passed (for tests that measure over time; 0 for none). It
// returns the reports, failing the test if a worker sent no complete
// report. Waiting for published progress instead of a fixed time keeps a
// loaded machine from turning into failures; the wait is bounded by the
// time a worker may take to reach the start gate.
func runFor(t testing.TB, cfg Config, window time.Duration) []Report {
	t.Helper()
	h := spawnWork(t, cfg)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitProgress(t, h.SnapshotIterations, 1, window, parkLimit)
	rs := stopWork(t, h)
	if len(rs) != max(cfg.Workers, 1) {
		t.Fatalf("%s: %d reports, want %d", cfg.Work, len(rs), max(cfg.Workers, 1))
	}
	return rs
}

// procStat reads /proc/PID/stat; false when the task is gone.
func procStat(pid int) (procfs.ProcStat, bool) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, false
	}
	st, err := p.Stat()
	return st, err == nil
}

// waitProgress waits until every worker of h has published at least min
// iterations, bounded as runFor is.
func waitProgress(t testing.TB, h *Handle, min uint64) {
	t.Helper()
	testenv.WaitProgress(t, h.SnapshotIterations, min, 0, parkLimit)
}

// spawnWork spawns cfg; the handle is closed when the test ends.
func spawnWork(t testing.TB, cfg Config) *Handle {
	t.Helper()
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	h, err := Spawn(cfg)
	if err != nil {
		t.Fatalf("spawn %s: %v", cfg.Work, err)
	}
	t.Cleanup(h.Close)
	return h
}

func stopWork(t testing.TB, h *Handle) []Report {
	t.Helper()
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reports {
		if !r.Completed {
			t.Fatalf("worker %d: no report: %+v", i, r.ExitInfo)
		}
	}
	return reports
}

// newTestWorker builds a Worker inside the test process, for driving a
// body's Step directly (allocation tests). It has its own stop word and
// progress slot and no group region or pipes.
func newTestWorker(t testing.TB, work Work) *Worker {
	t.Helper()
	shm := make([]byte, pageSize)
	w := &Worker{
		spec:       workerSpec{Work: work, Token: fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())},
		work:       work,
		shm:        shm,
		rfd:        -1,
		wfd:        -1,
		counters:   map[string]uint64{},
		rng:        0x9E3779B97F4A7C15,
		wake:       newReservoir(MaxWakeSamples),
		wakeHist:   hist.MustNew(hist.Nanoseconds),
		costs:      newReservoir(MaxCostSamples),
		timer:      newReservoir(MaxTimerSamples),
		timerHist:  hist.MustNew(hist.Nanoseconds),
		migrations: make([]Migration, 0, 64),
	}
	w.stop = (*uint32)(unsafe.Pointer(&shm[offStop]))
	w.ph.epoch = (*uint32)(unsafe.Pointer(&shm[offEpoch]))
	w.slot = (*uint64)(unsafe.Pointer(&shm[slotBase]))
	return w
}

// onLockedThread runs f on a goroutine locked to a fresh OS thread that
// exits afterwards, so whatever f does to its thread (nice, policy,
// affinity, capabilities) dies with it.
func onLockedThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
}

// taskIDs lists the thread ids of process pid (/proc/PID/task).
func taskIDs(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}
