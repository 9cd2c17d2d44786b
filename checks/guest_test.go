package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
	"github.com/ktstar/ktstar/workload"
)

// TestGuestStarvedFromStart pins a CFS worker to a CPU that SCHED_FIFO
// spinners hold from before its start(): the worker never runs during the
// run, so its report shows one gap of at least 90% of the run, and
// not_starved fails. In a guest, because the spinners take a whole CPU and
// RT throttling (which would lend the worker 5% of each second) is turned
// off there.
func TestGuestStarvedFromStart(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 2}) {
		return
	}
	if err := os.WriteFile("/proc/sys/kernel/sched_rt_runtime_us", []byte("-1"), 0); err != nil {
		t.Fatalf("turn RT throttling off in the guest: %v", err)
	}
	// The victim and the spinners share the guest's second CPU, so the
	// test's own threads keep the first.
	cpu := testenv.CPUs(t, 2)[1]
	// The victim parks at its gate first: once the spinners hold its CPU
	// it could not even get there.
	victim, err := workload.Spawn(workload.Config{Workers: 1, Work: workload.MustWork("SpinWait", nil), Affinity: workload.Exact(cpu)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(victim.Close)
	// Two spinners: a Go worker's thread parks for an instant when the
	// runtime preempts its goroutine, and the CPU would go to the victim;
	// with two at one FIFO priority the other is always runnable.
	spinner := startReal(t, workload.Config{Workers: 2, Work: workload.MustWork("SpinWait", nil),
		Affinity: workload.Exact(cpu), Policy: workload.Fifo(50)})
	for end := time.Now().Add(time.Minute); slices.Max(spinner.SnapshotIterations()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no FIFO spinner ran within a minute")
		}
	}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	run := time.Since(t0)

	// Stop the victim first: its stop word is set and SIGUSR1 sent at
	// once, but it cannot run to see them until the spinners stop.
	type result struct {
		rs  []workload.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rs, err := victim.StopAndCollect()
		done <- result{rs, err}
	}()
	// SIGUSR1 pending: the stop word, set before the signal, is out. A
	// thread of the victim that can run elsewhere may take the signal at
	// once, so this is a bounded wait, not a requirement.
	waitSignalPending(t, victim.Pids()[0], 10)
	if _, err := spinner.StopAndCollect(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.rs[0]
	t.Logf("victim: work %d, max gap %d ms at %d ms, wall %v, run %v", r.WorkUnits, r.MaxGapMs, r.MaxGapAtMs, time.Duration(r.WallTimeNs), run)
	if !r.Completed || float64(r.MaxGapMs) < 0.9*float64(run.Milliseconds()) {
		t.Errorf("max gap %d ms over a %v run: want at least 90%% of it", r.MaxGapMs, run)
	}
	out, err := Evaluate(Units(res.rs), Default())
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, o := range out.Failed() {
		failed = failed || o.Check == "not_starved"
	}
	if !failed {
		t.Errorf("not_starved did not fail:\n%v", out.Outcomes)
	}
}

// waitSignalPending waits up to two seconds until signal sig is pending
// for process pid or one of its threads (ShdPnd or a task's SigPnd in
// /proc).
func waitSignalPending(t *testing.T, pid, sig int) {
	t.Helper()
	pending := func(path, field string) bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(b), "\n") {
			if hex, ok := strings.CutPrefix(line, field+":\t"); ok {
				if mask, err := strconv.ParseUint(hex, 16, 64); err == nil && mask&(1<<(sig-1)) != 0 {
					return true
				}
			}
		}
		return false
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if pending(fmt.Sprintf("/proc/%d/status", pid), "ShdPnd") {
			return
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, task := range tasks {
			if pending(task, "SigPnd") {
				return
			}
		}
	}
	t.Logf("signal %d not seen pending for %d (a thread may have taken it); going on", sig, pid)
}
