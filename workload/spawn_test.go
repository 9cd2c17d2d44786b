package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
)

// leakCheck fails the test if it leaves a child process or an open file
// descriptor behind. Register it first so it runs after every other cleanup.
func leakCheck(t *testing.T) {
	t.Helper()
	before := openFDs(t)
	t.Cleanup(func() {
		if kids := childPids(t); len(kids) > 0 {
			t.Errorf("child processes left behind: %v", kids)
		}
		if after := openFDs(t); !slices.Equal(before, after) {
			t.Errorf("file descriptors: %d before, %d after:\nbefore %v\nafter  %v", len(before), len(after), before, after)
		}
	})
}

// openFDs lists this process's fds by target, leaving out the Go runtime's
// own poller fds, which it opens once on first use and keeps.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || strings.Contains(target, "eventpoll") || strings.Contains(target, "[eventfd]") || strings.Contains(target, "/proc/") {
			continue
		}
		out = append(out, e.Name()+"→"+target)
	}
	return out
}

// childPids lists the live children of every thread of this process.
func childPids(t *testing.T) []string {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var out []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err == nil {
			out = append(out, strings.Fields(string(b))...)
		}
	}
	return out
}

func TestWorkTypesReport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples bool
	}{
		{"SpinWait", false},
		{"YieldHeavy", false},
		{"Mixed", false},
		{"Bursty", true},
		{"FutexPingPong", true},
		{"PipeIo", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			work := MustWork(tc.name, nil)
			if tc.name == "Bursty" {
				work = MustWork("Bursty", map[string]any{"burst_duration": "5ms", "sleep_duration": "10ms"})
			}
			rs := runFor(t, Config{Workers: 4, Work: work}, 300*time.Millisecond)
			for i, r := range rs {
				if !r.Completed || r.ExitInfo != nil {
					t.Errorf("worker %d: completed=%v exit_info=%+v", i, r.Completed, r.ExitInfo)
				}
				if r.WorkUnits == 0 || r.Iterations == 0 {
					t.Errorf("worker %d: work_units=%d iterations=%d, want both > 0", i, r.WorkUnits, r.Iterations)
				}
				if r.WallTimeNs < r.CPUTimeNs {
					t.Errorf("worker %d: wall %d < cpu %d", i, r.WallTimeNs, r.CPUTimeNs)
				}
				if r.OffCPUNs != r.WallTimeNs-r.CPUTimeNs {
					t.Errorf("worker %d: off_cpu %d != wall %d - cpu %d", i, r.OffCPUNs, r.WallTimeNs, r.CPUTimeNs)
				}
				if got := len(r.WakeLatenciesNs) > 0; got != tc.samples {
					t.Errorf("worker %d: has wake samples = %v, want %v", i, got, tc.samples)
				}
				if n := uint64(len(r.WakeLatenciesNs)); n > MaxWakeSamples || n > r.WakeSampleTotal {
					t.Errorf("worker %d: %d samples, total %d, cap %d", i, n, r.WakeSampleTotal, MaxWakeSamples)
				}
				checkDistinctTid(t, rs, i)
				if len(r.CPUsUsed) == 0 || r.MigrationCount != uint64(len(r.Migrations)) {
					t.Errorf("worker %d: cpus_used %v, migration_count %d, %d migrations", i, r.CPUsUsed, r.MigrationCount, len(r.Migrations))
				}
				if r.SchedstatRunCount == 0 {
					t.Errorf("worker %d: schedstat_run_count is 0", i)
				}
			}
		})
	}
}

// checkDistinctTid checks that report i carries a real tid no other has.
func checkDistinctTid(t *testing.T, rs []Report, i int) {
	if rs[i].Tid <= 0 {
		t.Errorf("worker %d: tid %d", i, rs[i].Tid)
	}
	for j := range rs {
		if j != i && rs[j].Tid == rs[i].Tid {
			t.Errorf("workers %d and %d share tid %d", i, j, rs[i].Tid)
		}
	}
}

func TestExactAffinity(t *testing.T) {
	leakCheck(t)
	cpu := testenv.CPU(t)
	rs := runFor(t, Config{Workers: 2, Work: MustWork("Mixed", nil), Affinity: Exact(cpu)}, 300*time.Millisecond)
	for i, r := range rs {
		if !slices.Equal(r.CPUsUsed, []int{cpu}) || r.MigrationCount != 0 {
			t.Errorf("worker %d: cpus_used %v, migrations %d; want [%d] and 0", i, r.CPUsUsed, r.MigrationCount, cpu)
		}
	}
}

func TestRandomSubsetAffinity(t *testing.T) {
	leakCheck(t)
	online, _ := topo.OnlineCPUs()
	rs := runFor(t, Config{Workers: 4, Work: MustWork("Mixed", nil), Affinity: RandomSubset(online, 1)}, 300*time.Millisecond)
	for i, r := range rs {
		if len(r.CPUsUsed) != 1 || !slices.Contains(online, r.CPUsUsed[0]) || r.MigrationCount != 0 {
			t.Errorf("worker %d: cpus_used %v, migrations %d; want one CPU of %v", i, r.CPUsUsed, r.MigrationCount, online)
		}
	}
}

func TestPolicyVisibleFromOutside(t *testing.T) {
	nice := func(n int) *int { return &n }
	own := ownNice(t)
	for _, tc := range []struct {
		name       string
		cfg        Config
		nice       int64
		policy     int64
		rtPriority int64
	}{
		{"nice", Config{Nice: nice(7)}, 7, 0, 0},
		{"nice0", Config{Nice: nice(0)}, 0, 0, 0},
		{"batch", Config{Policy: Batch()}, 0, 3, 0}, // sched_setattr sets nice 0 with the policy
		{"idle", Config{Policy: Idle()}, own, 5, 0},
		{"fifo", Config{Policy: Fifo(10)}, own, 1, 10},
		{"rr", Config{Policy: RoundRobin(20)}, own, 2, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			cfg := tc.cfg
			cfg.Workers = 2
			cfg.Comm = "ktstar-" + tc.name
			// A light load pinned to one CPU: real-time workers must not
			// crowd out the test on a small machine.
			cfg.Work = MustWork("Bursty", map[string]any{"burst_duration": "1ms", "sleep_duration": "5ms"})
			cfg.Affinity = Exact(testenv.CPU(t))
			hd, err := Spawn(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hd.Close)
			hd.Start()
			waitProgress(t, hd, 1) // each worker set its attributes before its first iteration
			for _, pid := range hd.Pids() {
				st, ok := procStat(pid)
				nice, policy, rtPrio := int64(st.Nice), int64(st.Policy), int64(st.RTPriority)
				if !ok || nice != tc.nice || policy != tc.policy || rtPrio != tc.rtPriority {
					t.Errorf("pid %d: nice %d policy %d rt_priority %d; want %d %d %d", pid, nice, policy, rtPrio, tc.nice, tc.policy, tc.rtPriority)
				}
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if got := strings.TrimSpace(string(comm)); got != cfg.Comm {
					t.Errorf("pid %d: comm %q, want %q", pid, got, cfg.Comm)
				}
			}
			if _, err := hd.StopAndCollect(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSnapshotAndSetAffinity(t *testing.T) {
	leakCheck(t)
	hd, err := Spawn(Config{Workers: 2, Work: MustWork("SpinWait", nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hd.Close)
	if s := hd.SnapshotIterations(); !slices.Equal(s, []uint64{0, 0}) {
		t.Errorf("before start: %v", s)
	}
	hd.Start()
	cpu := testenv.CPU(t)
	if err := hd.SetAffinity(1, []int{cpu}); err != nil {
		t.Fatal(err)
	}
	if err := hd.SetAffinity(2, []int{cpu}); err == nil || !strings.Contains(err.Error(), "worker index 2 is out of range (allowed: 0..1)") {
		t.Errorf("bad index: %v", err)
	}
	// Each worker's published count must become non-zero and then grow.
	// Waiting for it, rather than sleeping a fixed time, keeps the test
	// honest on a machine where other tasks compete for the CPU.
	a := waitFor(t, func(s []uint64) bool { return !slices.Contains(s, 0) }, hd.SnapshotIterations)
	waitFor(t, func(s []uint64) bool {
		for i := range s {
			if s[i] <= a[i] {
				return false
			}
		}
		return true
	}, hd.SnapshotIterations)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", hd.Pids()[1]))
	if !strings.Contains(string(status), "Cpus_allowed_list:\t"+strconv.Itoa(cpu)+"\n") {
		t.Errorf("worker 1 status after set_affinity:\n%s", status)
	}
	rs, _ := hd.StopAndCollect()
	if c := rs[1].CPUsUsed; c[len(c)-1] != cpu && !slices.Contains(c, cpu) {
		t.Errorf("worker 1 cpus_used %v, want to include %d", c, cpu)
	}
}

// waitFor polls snap until ok holds, for at most 5 s.
func waitFor(t *testing.T, ok func([]uint64) bool, snap func() []uint64) []uint64 {
	t.Helper()
	deadline := time.Now().Add(parkLimit)
	for {
		s := snap()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("iteration counts stuck at %v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadConfigSpawnsNothing(t *testing.T) {
	online, _ := topo.OnlineCPUs()
	offline := online[len(online)-1] + 1
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero workers", Config{Workers: 0}, "workers = 0: at least 1 worker is needed"},
		{"odd futex pairs", Config{Workers: 3, Work: MustWork("FutexPingPong", nil)}, "workers = 3: FutexPingPong runs in groups of 2, so workers must be a positive multiple of 2"},
		{"odd pipe pairs", Config{Workers: 5, Work: MustWork("PipeIo", nil)}, "workers = 5: PipeIo runs in groups of 2"},
		{"offline cpu", Config{Workers: 1, Affinity: Exact(online[0], offline)}, fmt.Sprintf("CPU %d is not online (online CPUs: %s)", offline, FormatCPUList(online))},
		{"empty exact", Config{Workers: 1, Affinity: Exact()}, "the CPU list is empty"},
		{"subset count", Config{Workers: 1, Affinity: RandomSubset(online, len(online)+1)}, fmt.Sprintf("count = %d is out of range (allowed: 1..%d", len(online)+1, len(online))},
		{"nice low", Config{Workers: 1, Nice: n(-21)}, "nice = -21 is out of range (allowed: -20..19)"},
		{"nice high", Config{Workers: 1, Nice: n(20)}, "nice = 20 is out of range (allowed: -20..19)"},
		{"fifo 0", Config{Workers: 1, Policy: Fifo(0)}, "policy fifo(0): priority = 0 is out of range (allowed: 1..99)"},
		{"fifo 100", Config{Workers: 1, Policy: Fifo(100)}, "policy fifo(100): priority = 100 is out of range (allowed: 1..99)"},
		{"rr 100", Config{Workers: 1, Policy: RoundRobin(100)}, "policy rr(100): priority = 100 is out of range (allowed: 1..99)"},
		{"long comm", Config{Workers: 1, Comm: "sixteen-bytes-xx"}, `comm = "sixteen-bytes-xx" is 16 bytes (allowed: 1..15 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			hd, err := Spawn(tc.cfg)
			if err == nil || hd != nil {
				hd.Close()
				t.Fatalf("spawn succeeded, want error %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestSpawnFailsHalfWay exhausts file descriptors so the parent fails in
// the middle of a spawn, and checks that what it started is killed and reaped.
func TestSpawnFailsHalfWay(t *testing.T) {
	leakCheck(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(len(openFDs(t)) + 30)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	hd, err := Spawn(Config{Workers: 64, Work: MustWork("SpinWait", nil)})
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	if err == nil {
		hd.Close()
		t.Fatal("spawn of 64 workers with ~30 spare fds succeeded")
	}
	if !strings.Contains(err.Error(), "spawn worker") || !errors.Is(err, syscall.EMFILE) {
		t.Errorf("error %q: want it to name the worker and wrap EMFILE", err)
	}
}

// TestLoopDoesNotAllocate runs every catalog type that can run here with
// its defaults, pinned to one CPU, and checks the worker's own count of
// heap allocations made while its loop ran.
func TestLoopDoesNotAllocate(t *testing.T) {
	for _, typ := range Types() {
		t.Run(typ.Name, func(t *testing.T) {
			if typ.Name == "NetTraffic" {
				t.Skip("needs an interface of a private network namespace: TestNetTraffic checks its allocations")
			}
			leakCheck(t)
			w := typ.ExampleWork()
			affinity := Exact(testenv.CPU(t))
			switch typ.Name {
			case "SmtSiblingSpin": // refuses a mask that is not one core's threads
				affinity = Inherit()
			case "PriorityInversion", "RtStarvation": // on one CPU their RT tier starves the rest, by design
				affinity = Inherit()
			}
			cfg := Config{Workers: max(w.GroupSize(), 1), Work: w, Affinity: affinity}
			if typ.Cgroups != nil { // CgroupChurn: its groups go below a test run group
				cfg.CgroupParent = testGroup(t, "alloc").Parent()
			}
			if typ.Placement != nil { // acts on its own group: one of a test run
				cg := testGroup(t, "alloc")
				cfg.Cgroup, cfg.CgroupParent = cg, cg.Parent()
				if dest, ok := w.Arg("dest"); ok { // CgroupAttachStorm's sibling
					if _, err := cg.Parent().NewChild(dest.(string)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A body that allocates does so on every run; the Go runtime
			// making an OS thread for a thread team (Schbench, Taobench)
			// allocates too, which LoopNewThreads tells apart, and other
			// one-offs of a loaded machine do not repeat: a second run
			// decides.
			var allocs []string
			for attempt := 0; attempt < 2; attempt++ {
				allocs = allocs[:0]
				for i, r := range runFor(t, cfg, 200*time.Millisecond) {
					// Some types starve some of their own workers by design
					// (priority inversion), so only completion is required.
					if !r.Completed {
						t.Fatalf("worker %d did not complete: %+v", i, r.ExitInfo)
					}
					if r.LoopAllocs != 0 && r.LoopNewThreads == 0 {
						allocs = append(allocs, fmt.Sprintf("worker %d: %d heap allocations in %d iterations", i, r.LoopAllocs, r.Iterations))
					}
				}
				if len(allocs) == 0 {
					return
				}
				t.Logf("run %d: %s", attempt+1, strings.Join(allocs, "; "))
			}
			t.Errorf("the loop allocated in two runs: %s", strings.Join(allocs, "; "))
		})
	}
}
