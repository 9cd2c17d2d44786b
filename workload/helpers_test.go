package workload

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/ktstar/ktstar/hist"
)

// runWork spawns cfg, lets it run for d and then until every worker has
// published at least 2 iterations (the machine is shared, so a fixed time
// may not be enough), and returns the reports, failing the test if a
// worker sent no complete report.
func runWork(t *testing.T, cfg Config, d time.Duration) []Report {
	t.Helper()
	h := spawnWork(t, cfg)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && slices.Min(h.SnapshotIterations()) < 2; {
		time.Sleep(10 * time.Millisecond)
	}
	return stopWork(t, h)
}

// spawnWork spawns cfg; the handle is closed when the test ends.
func spawnWork(t *testing.T, cfg Config) *Handle {
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

func stopWork(t *testing.T, h *Handle) []Report {
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
func newTestWorker(t *testing.T, work Work) *Worker {
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
		costs:      newReservoir(MaxCostSamples),
		timer:      newReservoir(MaxTimerSamples),
		timerHist:  hist.MustNew(hist.Nanoseconds),
		migrations: make([]Migration, 0, 64),
	}
	w.stop = (*uint32)(unsafe.Pointer(&shm[offStop]))
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
