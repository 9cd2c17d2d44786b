package workload

// Tests of the stop protocol: deadlines, dead and stuck workers, a dying
// parent, and signals at the start gate.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/testenv"
)

func TestKilledWorkerGetsSentinel(t *testing.T) {
	leakCheck(t)
	hd := spawnWork(t, Config{Workers: 4, Work: MustWork("SpinWait", nil)})
	hd.Start()
	waitProgress(t, hd, 1)
	victim := hd.Pids()[1]
	unix.Kill(victim, unix.SIGKILL)
	rs, err := hd.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	checkKilled(t, rs, 1)
	if r := rs[1]; r.Tid != victim || r.WorkUnits != 0 {
		t.Errorf("killed worker: tid %d, units %d; want %d and none", r.Tid, r.WorkUnits, victim)
	}
	for i, r := range rs {
		if i != 1 && r.WorkUnits == 0 {
			t.Errorf("worker %d: no work units", i)
		}
	}
}

// checkKilled checks that report kill (-1: none) is a SIGKILL sentinel and
// that every other worker completed.
func checkKilled(t *testing.T, rs []Report, kill int) {
	t.Helper()
	for i, r := range rs {
		if i == kill {
			want := ExitInfo{Kind: ExitSignaled, Signal: int(unix.SIGKILL), Error: "killed by SIGKILL, which ktstar did not send", FromOutside: true}
			if r.Completed || r.ExitInfo == nil || *r.ExitInfo != want {
				t.Errorf("killed worker %d: completed=%v exit_info=%+v, want the sentinel %+v", i, r.Completed, r.ExitInfo, want)
			}
		} else if !r.Completed {
			t.Errorf("worker %d: no report: %+v", i, r.ExitInfo)
		}
	}
}

// TestGroupedStop stops groups whose partners are blocked, and groups one
// of whose members was SIGKILLed mid-run: stop completes well within the
// deadline, every live worker reports, the dead one gets a sentinel.
func TestGroupedStop(t *testing.T) {
	type stopCase struct {
		work Work
		kill int // position to SIGKILL, -1 for none
	}
	cases := []stopCase{
		// Partners blocked at the stop: in a long sleep, a long hop, or
		// waiting for a lock held for a long spin.
		{MustWork("ThunderingHerd", map[string]any{"waiters": 2, "inter_batch_ms": 1000, "batches": 1}), -1},
		{MustWork("WakeChain", map[string]any{"depth": 3, "work_per_hop": "2s"}), -1},
		{MustWork("MutexContention", map[string]any{"contenders": 3, "hold_iters": maxSpinIters}), -1},
		{MustWork("PriorityInversion", map[string]any{"medium_count": 0, "hold_iters": 1 << 22, "pi_mode": "Pi"}), 1},
	}
	// Every grouped type of the catalog, with its first and with its last
	// member SIGKILLed mid-run.
	for _, typ := range Types() {
		if typ.GroupSize != nil {
			w := typ.ExampleWork()
			cases = append(cases, stopCase{w, 0}, stopCase{w, w.GroupSize() - 1})
		}
	}
	modes := make([]CloneMode, len(cases))
	// The partners blocked in a sleep, a hop and a long lock hold again as
	// threads of one host (a SIGKILL there would end the whole host, so
	// only the stop is run).
	for _, tc := range cases[:3] {
		cases = append(cases, tc)
		modes = append(modes, CloneThread)
	}
	for k, tc := range cases {
		t.Run(fmt.Sprintf("%s/kill=%d/%s", tc.work, tc.kill, modes[k]), func(t *testing.T) {
			cfg := Config{Work: tc.work, Workers: tc.work.GroupSize(), CloneMode: modes[k]}
			if n := tc.work.Name(); n == "PreemptStorm" || n == "RtStarvation" {
				// On one CPU the real-time members starve the others: the
				// stop must still reach them.
				cfg.Affinity = Exact(testenv.CPU(t))
			}
			h := spawnWork(t, cfg)
			h.Start()
			waitReleased(t, h)
			if tc.kill >= 0 {
				// Every member has worked once, so the victim dies mid-run
				// and its partners meet a dead end before the stop.
				waitProgress(t, h, 1)
				pid := h.Pids()[tc.kill]
				unix.Kill(pid, unix.SIGKILL)
				waitGone(t, pid)
			}
			t0 := time.Now()
			rs, err := h.StopAndCollect()
			took := time.Since(t0)
			if err != nil {
				t.Fatal(err)
			}
			// Waits are bounded by stopPoll; the herd's 1 s inter-batch
			// sleep is one call, which the stop deadline allows for.
			if limit := collectDeadline(tc.work); took > limit {
				t.Errorf("stop took %v, want under the stop deadline %v", took, limit)
			}
			checkKilled(t, rs, tc.kill)
		})
	}
}

// waitReleased waits until every worker of h has entered its loop.
func waitReleased(t *testing.T, h *Handle) {
	t.Helper()
	deadline := time.After(releaseLimit)
	for _, c := range h.children {
		select {
		case <-c.released:
		case <-deadline:
			t.Fatalf("worker %d did not enter its loop within %v", c.idx, releaseLimit)
		}
	}
}

// waitGone waits until the SIGKILLed task pid is dead (a zombie, or reaped
// already), bounded as awaitReap waits for a task still exiting.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(exitLimit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, ok := procStat(pid); !ok || st.State == "Z" {
			return
		}
	}
	t.Fatalf("worker %d still running %v after SIGKILL", pid, exitLimit)
}

// TestUnresponsiveWorkerTimesOut: a SIGSTOPped worker is reported
// timed_out at the stop deadline while the others' reports are kept. The
// deadline is the code's own: a shortened one would time out workers that
// a loaded machine merely starves.
func TestUnresponsiveWorkerTimesOut(t *testing.T) {
	leakCheck(t)
	hd := spawnWork(t, Config{Workers: 3, Work: MustWork("YieldHeavy", nil)})
	hd.Start()
	waitProgress(t, hd, 1)
	// A stopped task never answers the stop word; only SIGKILL ends it.
	unix.Kill(hd.Pids()[0], unix.SIGSTOP)
	t0 := time.Now()
	rs, err := hd.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	// The killed worker is reaped within the reap limit unless a loaded
	// machine keeps it exiting longer, which awaitReap waits out.
	if took := time.Since(t0); took > hd.collectLimit+exitLimit {
		t.Errorf("stop took %v, beyond the %v deadline plus the %v a killed worker may take to exit", took, hd.collectLimit, exitLimit)
	}
	if r := rs[0]; r.Completed || r.ExitInfo == nil || r.ExitInfo.Kind != ExitTimedOut {
		t.Errorf("stopped worker: completed=%v exit_info=%+v; want timed_out", r.Completed, r.ExitInfo)
	}
	for i, r := range rs[1:] {
		if !r.Completed {
			t.Errorf("worker %d: not completed: %+v", i+1, r.ExitInfo)
		}
	}
}

func TestStopWithoutStartAutoStarts(t *testing.T) {
	leakCheck(t)
	hd := spawnWork(t, Config{Workers: 2, Work: MustWork("FutexPingPong", nil)})
	stopWork(t, hd)
	if _, err := hd.StopAndCollect(); err == nil {
		t.Error("second stop: want an error")
	}
}

func TestCloseParkedWorkers(t *testing.T) {
	leakCheck(t)
	hd, err := Spawn(Config{Workers: 4, Work: MustWork("PipeIo", nil)})
	if err != nil {
		t.Fatal(err)
	}
	hd.Close()
	hd.Close()
}

// spawnerHelperEnv makes the test binary a process that spawns workers,
// prints their pids and waits to be killed (see TestMain).
const spawnerHelperEnv = "KTSTAR_TEST_SPAWNER"

func spawnerHelper() {
	hd, err := Spawn(Config{Workers: 4, Work: MustWork("Bursty", map[string]any{"burst_duration": "1ms", "sleep_duration": "1ms"})})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	hd.Start()
	json.NewEncoder(os.Stdout).Encode(hd.Pids())
	time.Sleep(time.Minute)
	os.Exit(3)
}

func TestParentDeathKillsWorkers(t *testing.T) { checkParentDeath(t) }

// checkParentDeath kills a spawner process (a helper re-exec of this test
// binary) and checks that its parked workers die with it, by SIGKILL.
func checkParentDeath(t *testing.T) {
	leakCheck(t)
	// Orphaned workers are re-parented to us, so we can reap them and see
	// how they died instead of racing init.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	cmd, line := testenv.StartHelper(t, spawnerHelperEnv)
	var pids []int
	if err := json.Unmarshal([]byte(line), &pids); err != nil || len(pids) != 4 {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	reaped := map[int]bool{}
	// Whatever happens below, no worker may outlive the test.
	t.Cleanup(func() {
		for _, pid := range pids {
			if !reaped[pid] {
				unix.Kill(pid, unix.SIGKILL)
				unix.Wait4(pid, nil, 0, nil)
			}
		}
	})
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	for _, pid := range pids {
		var ws unix.WaitStatus
		for time.Since(killed) < time.Second {
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid || err != nil {
				reaped[pid] = true
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !reaped[pid] {
			t.Errorf("worker %d still alive 1 s after its parent died", pid)
		} else if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("worker %d: wait status %v, want killed by SIGKILL", pid, ws)
		}
	}
}

// TestSignalsAtTheStartGate interrupts parked workers' wait on the gate,
// as a partner's SignalStorm can; they must still start and report.
func TestSignalsAtTheStartGate(t *testing.T) {
	leakCheck(t)
	hd := spawnWork(t, Config{Workers: 2, Work: MustWork("SpinWait", nil)})
	for range 20 {
		for _, pid := range hd.Pids() {
			// The runtime handles SIGURG (its preemption signal) harmlessly,
			// but the blocked poll returns EINTR all the same.
			unix.Kill(pid, unix.SIGURG)
		}
		time.Sleep(2 * time.Millisecond)
	}
	stopWork(t, hd)
}

// TestExiting: awaitReap goes on waiting past the reap limit only for a
// process that is on its way out. A spinning worker always has a task
// running or runnable, whatever the load; a SIGSTOPped one has none (as a
// task blocked where SIGKILL cannot reach); a reaped one has left /proc;
// a dead one not yet reaped (its reaper starved) is a zombie.
func TestExiting(t *testing.T) {
	leakCheck(t)
	zombie := exec.Command("sleep", "60")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zombie.Process.Kill(); zombie.Wait() })
	unix.Kill(zombie.Process.Pid, unix.SIGKILL)
	for deadline := time.Now().Add(parkLimit); !allInState(zombie.Process.Pid, "Z"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d: not a zombie %v after SIGKILL", zombie.Process.Pid, parkLimit)
		}
	}
	if !exiting(zombie.Process.Pid) {
		t.Errorf("dead, unreaped process %d: exiting = false, want true", zombie.Process.Pid)
	}
	zombie.Wait()
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("SpinWait", nil)})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 1)
	spinning, stopped := h.Pids()[0], h.Pids()[1]
	if !exiting(spinning) {
		t.Errorf("spinning worker %d: exiting = false, want true (a task in state R)", spinning)
	}
	unix.Kill(stopped, unix.SIGSTOP)
	for deadline := time.Now().Add(parkLimit); !allInState(stopped, "T"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d: not every task stopped %v after SIGSTOP", stopped, parkLimit)
		}
	}
	if exiting(stopped) {
		t.Errorf("stopped worker %d: exiting = true, want false", stopped)
	}
	unix.Kill(stopped, unix.SIGCONT)
	stopWork(t, h)
	if !exiting(spinning) {
		t.Errorf("reaped worker %d: exiting = false, want true (gone from /proc)", spinning)
	}
}

// allInState reports whether every task of process pid is in state
// (T: stopped, Z: zombie).
func allInState(pid int, state string) bool {
	tasks, err := procfs.AllThreads(pid)
	if err != nil {
		return false
	}
	for _, task := range tasks {
		if st, err := task.Stat(); err != nil || st.State != state {
			return false
		}
	}
	return true
}

// TestSpinBurstStops: a burst of maxSpinIters steps does them all while
// the stop word is clear, and after the stop it ends within one
// spinChunk, so a starved lock holder meets the stop deadline.
func TestSpinBurstStops(t *testing.T) {
	w := newTestWorker(t, MustWork("SpinWait", nil))
	w.SpinBurst(maxSpinIters)
	if w.units != maxSpinIters {
		t.Fatalf("%d units for a burst of %d, want all", w.units, maxSpinIters)
	}
	atomic.StoreUint32(w.stop, 1)
	w.units = 0
	w.SpinBurst(maxSpinIters)
	if w.units > spinChunk {
		t.Errorf("%d units for a burst of %d after the stop, want at most %d", w.units, maxSpinIters, spinChunk)
	}
}
