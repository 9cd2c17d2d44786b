package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/testenv"
)

// taskStatus reads one field of /proc/PID/task/TID/status.
func taskStatus(t *testing.T, pid, tid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/task/%d/status has no %s", pid, tid, field)
	return ""
}

// taskStat reads /proc/PID/task/TID/stat's fields after the comm: index 0
// is the state (field 3), so field n of proc(5) is index n-3.
func taskStat(t *testing.T, pid, tid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// TestThreadMode runs workers as threads of one host process and checks
// them from outside while they run: the host's task list holds every
// worker's thread, each with its own CPU, policy, nice and name; every
// report's tid is one of them and names the host.
func TestThreadMode(t *testing.T) {
	leakCheck(t)
	const n = 4
	cpu := testenv.CPU(t)
	nice := 5
	h := spawnWork(t, Config{Workers: n, Work: MustWork("SpinWait", nil), CloneMode: CloneThread,
		Affinity: Exact(cpu), Policy: Batch(), Nice: &nice, Comm: "ktstar-thr"})
	hostPid := h.children[0].proc.Pid
	for i, c := range h.children {
		if c.proc.Pid != hostPid {
			t.Fatalf("worker %d runs in process %d, worker 0 in %d: want one host", i, c.proc.Pid, hostPid)
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 10)
	tasks := taskIDs(t, hostPid)
	tids := h.Pids()
	if len(tasks) < n+1 {
		t.Errorf("/proc/%d/task lists %d threads, want the %d workers' and the host's own", hostPid, len(tasks), n)
	}
	for i, tid := range tids {
		if !slices.Contains(tasks, tid) {
			t.Errorf("worker %d: tid %d is not a thread of host %d (%v)", i, tid, hostPid, tasks)
			continue
		}
		st := taskStat(t, hostPid, tid)
		// proc(5): processor is field 39, nice 19, policy 41.
		if got := st[39-3]; got != strconv.Itoa(cpu) {
			t.Errorf("worker %d: runs on CPU %s, want %d", i, got, cpu)
		}
		if got := st[19-3]; got != strconv.Itoa(nice) {
			t.Errorf("worker %d: nice %s, want %d", i, got, nice)
		}
		if got := st[41-3]; got != strconv.Itoa(int(PolicyBatch)) {
			t.Errorf("worker %d: policy %s, want %d (SCHED_BATCH)", i, got, PolicyBatch)
		}
		if got := taskStatus(t, hostPid, tid, "Cpus_allowed_list"); got != strconv.Itoa(cpu) {
			t.Errorf("worker %d: Cpus_allowed_list %s, want %d", i, got, cpu)
		}
		if got := taskStatus(t, hostPid, tid, "Name"); got != "ktstar-thr" {
			t.Errorf("worker %d: name %q, want ktstar-thr", i, got)
		}
	}
	// set_affinity moves one thread, not its host.
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		t.Fatal(err)
	}
	if cpus := cpuList(&mine); len(cpus) > 1 {
		other := cpus[0]
		if other == cpu {
			other = cpus[1]
		}
		if err := h.SetAffinity(1, []int{other}); err != nil {
			t.Fatal(err)
		}
		for i, tid := range tids {
			want := cpu
			if i == 1 {
				want = other
			}
			if got := taskStatus(t, hostPid, tid, "Cpus_allowed_list"); got != strconv.Itoa(want) {
				t.Errorf("after set_affinity(1, [%d]): worker %d Cpus_allowed_list %s, want %d", other, i, got, want)
			}
		}
	}
	rs := stopWork(t, h)
	for i, r := range rs {
		if !r.Completed || r.Tid != tids[i] || r.HostPid != hostPid || r.Pcomm != "" {
			t.Errorf("report %d: completed %v tid %d host_pid %d pcomm %q, want completed, tid %d, host %d, no pcomm",
				i, r.Completed, r.Tid, r.HostPid, r.Pcomm, tids[i], hostPid)
		}
		if r.SchedstatRunCount == 0 || r.CPUTimeNs == 0 || len(r.CPUsUsed) == 0 || r.CPUsUsed[0] != cpu && i != 1 {
			t.Errorf("report %d: schedstat_run_count %d, cpu_time_ns %d, cpus_used %v: want the thread's own",
				i, r.SchedstatRunCount, r.CPUTimeNs, r.CPUsUsed)
		}
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", hostPid)); err == nil {
		t.Errorf("host %d still exists after the stop", hostPid)
	}
}

// TestThreadModeRefusals checks every catalog type the compatibility
// table excludes (Type.NotAsThread): a thread-mode or pcomm spawn of it is
// refused before anything starts, naming the type and the reason.
func TestThreadModeRefusals(t *testing.T) {
	leakCheck(t)
	for _, typ := range Types() {
		if typ.NotAsThread == "" {
			continue
		}
		for _, cfg := range []Config{
			{Work: typ.ExampleWork(), CloneMode: CloneThread},
			{Work: typ.ExampleWork(), Pcomm: "java"},
			{Composed: []Config{{Workers: 1, Work: typ.ExampleWork(), CloneMode: CloneThread}}},
		} {
			cfg.Workers = max(cfg.Workers, 1, cfg.Work.GroupSize())
			_, err := Spawn(cfg)
			if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), typ.Name+" cannot run as a thread") ||
				!strings.Contains(err.Error(), typ.NotAsThread) {
				t.Errorf("%s as a thread: err = %v, want a refusal naming the type and %q", typ.Name, err, typ.NotAsThread)
			}
		}
	}
}

func init() {
	// test_stubborn works until stopped, then ignores the stop for longer
	// than any stop deadline (a thread cannot be SIGSTOPped alone).
	Register("test_stubborn", func(w *Worker) (map[string]any, error) {
		for !w.Stopped() {
			w.SpinBurst(1024)
			w.Tick()
		}
		time.Sleep(time.Minute)
		return nil, nil
	})
}

// TestThreadModeInterrupted stops a thread host one of whose workers
// ignores the stop, under an interrupted context: the workers that
// answered keep their reports, the other is timed out, and nothing is
// left behind.
func TestThreadModeInterrupted(t *testing.T) {
	leakCheck(t)
	h := spawnWork(t, Config{Workers: 2, CloneMode: CloneThread, Composed: []Config{
		{Workers: 1, CloneMode: CloneThread, Work: MustWork("Custom", map[string]any{"name": "test_stubborn"})},
	}})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs, err := h.StopAndCollectContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d reports, want 3", len(rs))
	}
	for i := range 2 {
		if !rs[i].Completed {
			t.Errorf("spinner %d: %+v, want its report", i, rs[i].ExitInfo)
		}
	}
	if rs[2].Completed || rs[2].ExitInfo == nil || rs[2].ExitInfo.Kind != ExitTimedOut || rs[2].GroupIdx != 1 {
		t.Errorf("stubborn worker: completed %v exit %+v group %d, want timed_out in group 1", rs[2].Completed, rs[2].ExitInfo, rs[2].GroupIdx)
	}
}

// TestThreadHostTasks checks admission's count for hosted workers against
// a real host: it holds at most tasksPerThread threads per worker plus
// tasksPerWorker.
func TestThreadHostTasks(t *testing.T) {
	leakCheck(t)
	const n = 32
	cfg := Config{Workers: n, Work: MustWork("FutexPingPong", nil), CloneMode: CloneThread}
	if got, want := cfg.tasks(), int64(n*tasksPerThread+tasksPerWorker); got != want {
		t.Errorf("admission counts %d tasks for %d thread workers, want %d", got, n, want)
	}
	two := Config{Workers: 2, Pcomm: "a", Composed: []Config{{Workers: 3, Pcomm: "b"}, {Workers: 1, Pcomm: "a"}, {Workers: 1}}}
	if got, want := two.tasks(), int64((2+3+1)*tasksPerThread+2*tasksPerWorker+tasksPerWorker); got != want {
		t.Errorf("admission counts %d tasks for two containers and a process, want %d", got, want)
	}
	h := spawnWork(t, cfg)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 100)
	if got := len(taskIDs(t, h.children[0].proc.Pid)); int64(got) > cfg.tasks() {
		t.Errorf("a running host of %d workers holds %d threads, admission assumes at most %d", n, got, cfg.tasks())
	}
	stopWork(t, h)
}

// TestPcommContainers spawns two pcomm values: two leader processes whose
// comm is the name, each worker a thread of its container, reports that
// name it, and a PipeIo pair inside one container that completes round
// trips.
func TestPcommContainers(t *testing.T) {
	leakCheck(t)
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("PipeIo", nil), Pcomm: "java", Composed: []Config{
		{Workers: 2, Work: MustWork("SignalStorm", map[string]any{"signals_per_iter": 2, "work_iters": 64}), Pcomm: "chrome"},
		{Workers: 1, Pcomm: "java", Comm: "gc"},
	}})
	want := []string{"java", "java", "chrome", "chrome", "java"}
	leaders := map[string]int{}
	for i, c := range h.children {
		if c.host == nil {
			t.Fatalf("worker %d is not hosted", i)
		}
		if p, ok := leaders[want[i]]; ok && p != c.proc.Pid {
			t.Errorf("pcomm %q: workers in processes %d and %d, want one", want[i], p, c.proc.Pid)
		}
		leaders[want[i]] = c.proc.Pid
	}
	if leaders["java"] == leaders["chrome"] {
		t.Fatalf("both pcomm values share process %d", leaders["java"])
	}
	for name, pid := range leaders {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(b)) != name {
			t.Errorf("leader %d: comm %q (%v), want %q", pid, b, err, name)
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 10)
	for i, tid := range h.Pids() {
		pid := leaders[want[i]]
		if !slices.Contains(taskIDs(t, pid), tid) {
			t.Errorf("worker %d: tid %d is not a thread of its leader %d", i, tid, pid)
		}
		wantName := want[i]
		if i == 4 {
			wantName = "gc"
		}
		if got := taskStatus(t, pid, tid, "Name"); got != wantName {
			t.Errorf("worker %d: thread name %q, want %q", i, got, wantName)
		}
	}
	rs := stopWork(t, h)
	for i, r := range rs {
		if !r.Completed || r.Pcomm != want[i] || r.HostPid != leaders[want[i]] {
			t.Errorf("report %d: completed %v pcomm %q host_pid %d, want %q in %d", i, r.Completed, r.Pcomm, r.HostPid, want[i], leaders[want[i]])
		}
	}
	for i := range 2 {
		if rs[i].WakeSampleTotal == 0 || rs[i].Iterations == 0 {
			t.Errorf("PipeIo worker %d in java: %d round trips, %d iterations: want both > 0", i, rs[i].WakeSampleTotal, rs[i].Iterations)
		}
	}
	for i := 2; i < 4; i++ {
		if cnt(t, rs[i], "signals_sent") == 0 || cnt(t, rs[i], "send_errors") != 0 {
			t.Errorf("SignalStorm worker %d: sent %d, errors %d: want the partner thread signalled", i, rs[i].Counters["signals_sent"], rs[i].Counters["send_errors"])
		}
	}
	for _, pid := range leaders {
		if err := unix.Kill(pid, 0); err == nil {
			t.Errorf("leader %d still exists after the stop", pid)
		}
	}
}
