package workload

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestWindowsFromStart holds a worker stopped (SIGSTOP) across Start for
// 300 ms: its windows count from the gate's opening, not from its first
// run, so its report shows the 300 ms as a gap and as wall time off CPU.
func TestWindowsFromStart(t *testing.T) {
	h, pid, t0 := startStopped(t)
	time.Sleep(300 * time.Millisecond)
	held := time.Since(t0)
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitIterations(t, h, 2)
	r := stopWork(t, h)[0]
	if r.MaxGapMs < uint64(held.Milliseconds())-5 || r.MaxGapAtMs < r.MaxGapMs {
		t.Errorf("max gap %d ms at %d ms: want the %v it was held from the start", r.MaxGapMs, r.MaxGapAtMs, held)
	}
	if r.WallTimeNs < uint64(held) || r.OffCPUNs < uint64(held)-uint64(20*time.Millisecond) {
		t.Errorf("wall %v, off-CPU %v: want both to include the %v before it first ran", time.Duration(r.WallTimeNs), time.Duration(r.OffCPUNs), held)
	}
}

// TestNeverRanIsOneGap: a worker that first runs after the stop did no
// work, and its one gap is the whole run.
func TestNeverRanIsOneGap(t *testing.T) {
	h, pid, t0 := startStopped(t)
	time.Sleep(300 * time.Millisecond)
	// The stop word first, so the worker sees it as soon as it runs.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&h.shm[offStop])), 1)
	run := time.Since(t0)
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	r := stopWork(t, h)[0]
	if r.WorkUnits != 0 || r.MaxGapMs < uint64(run.Milliseconds()) || r.WallTimeNs < uint64(run) {
		t.Errorf("work %d, max gap %d ms, wall %v: want no work and one gap of the whole %v run", r.WorkUnits, r.MaxGapMs, time.Duration(r.WallTimeNs), run)
	}
}

// startStopped spawns a SpinWait worker, stops it (SIGSTOP) and starts
// the handle: the worker cannot run until SIGCONT. It returns when Start
// was called.
func startStopped(t *testing.T) (*Handle, int, time.Time) {
	t.Helper()
	h := spawnWork(t, Config{Work: MustWork("SpinWait", nil)})
	pid := h.Pids()[0]
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return h, pid, t0
}

// TestStartGateTimeout: a worker that is never started gives up at the
// gate, and its report says so.
func TestStartGateTimeout(t *testing.T) {
	h := spawnWork(t, Config{Work: MustWork("SpinWait", nil), gateLimit: 200 * time.Millisecond})
	select {
	case <-h.children[0].done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker is still waiting at the gate 30s after a 200ms limit")
	}
	rs, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	e := rs[0].ExitInfo
	if rs[0].Completed || e == nil || !strings.HasPrefix(e.Error, "start gate: not opened within 200ms after the spawn") {
		t.Errorf("report %+v, exit_info %+v: want one naming the start gate", rs[0], e)
	}
}

// TestStart2048 starts 2,048 spinning workers on however few CPUs there
// are: Start is one stamp, one store and one wake of a few workers, which
// wake the rest, whatever the count (it was 30-44 s of pipe writes on 2
// CPUs), and every worker completes. The times are logged, not asserted:
// once the first spinners run, the parent and the rest share 2 CPUs with
// them, so the scheduler and the machine's other load decide how long
// Start takes to return (15 us to 4 s here) and how long until every
// worker is in its loop; each worker's windows count from the stamp.
func TestStart2048(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 2,048 processes")
	}
	const n = 2048
	t0 := time.Now()
	h := spawnWork(t, Config{Workers: n, Work: MustWork("SpinWait", nil)})
	spawned := time.Since(t0)
	t1 := time.Now()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	opened := time.Since(t1)
	waitAll(h.children, func(c *child) chan struct{} { return c.released }, time.Minute)
	released := time.Since(t1)
	rs := stopWork(t, h)
	t.Logf("%d workers: spawn %v, Start %v, all in their loop %v after Start", n, spawned, opened, released)
	if len(rs) != n {
		t.Fatalf("%d reports, want %d", len(rs), n)
	}
	for i, r := range rs {
		if !r.Completed || r.ExitInfo != nil {
			t.Fatalf("worker %d: completed %v, exit_info %+v", i, r.Completed, r.ExitInfo)
		}
	}
}
