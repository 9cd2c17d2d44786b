package workload

// Tests of the stop protocol: deadlines, dead and stuck workers, a dying
// parent, and signals at the start gate.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	for i, r := range rs {
		if i == 1 {
			want := ExitInfo{Kind: ExitSignaled, Signal: 9}
			if r.Completed || r.ExitInfo == nil || *r.ExitInfo != want || r.Tid != victim || r.WorkUnits != 0 {
				t.Errorf("killed worker: completed=%v exit_info=%+v tid=%d units=%d; want sentinel %+v for %d", r.Completed, r.ExitInfo, r.Tid, r.WorkUnits, want, victim)
			}
			continue
		}
		if !r.Completed || r.WorkUnits == 0 {
			t.Errorf("worker %d: completed=%v units=%d", i, r.Completed, r.WorkUnits)
		}
	}
}

func TestUnresponsiveWorkerTimesOut(t *testing.T) {
	leakCheck(t)
	hd := spawnWork(t, Config{Workers: 3, Work: MustWork("YieldHeavy", nil)})
	hd.collectLimit = 500 * time.Millisecond
	hd.Start()
	waitProgress(t, hd, 1)
	// A stopped task never answers the stop word; only SIGKILL ends it.
	unix.Kill(hd.Pids()[0], unix.SIGSTOP)
	t0 := time.Now()
	rs, err := hd.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > hd.collectLimit+reapLimit {
		t.Errorf("stop took %v, beyond the %v deadline plus the reap limit", took, hd.collectLimit)
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spawnerHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &pids) != nil || len(pids) != 4 {
		cmd.Process.Kill()
		cmd.Wait()
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
