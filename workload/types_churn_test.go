package workload

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
)

// childrenOf returns the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		p, _ := strconv.Atoi(filepath.Base(d))
		if st, ok := procStat(p); ok && st.PPID == pid {
			out = append(out, p)
		}
	}
	return out
}

// sampleWhileRunning starts h and calls sample every interval until it
// reports that it saw what the test looks for, at least window has passed
// and every worker has published an iteration; or until parkLimit, after
// which the test's own assertions say what was missing.
func sampleWhileRunning(t *testing.T, h *Handle, window, interval time.Duration, sample func() (done bool)) {
	t.Helper()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for !sample() || time.Since(start) < window || slices.Min(h.SnapshotIterations()) < 1 {
		if time.Since(start) > parkLimit {
			return
		}
		time.Sleep(interval)
	}
}

func TestForkExit(t *testing.T) {
	h := spawnWork(t, Config{Work: MustWork("ForkExit", nil)})
	pid := h.Pids()[0]
	most := 0
	sampleWhileRunning(t, h, 300*time.Millisecond, 20*time.Millisecond, func() bool {
		most = max(most, len(childrenOf(t, pid)))
		return true // a window of samples, whatever they show
	})
	r := stopWork(t, h)[0]
	forked, reaped := r.Counters["children_forked"], r.Counters["children_reaped"]
	if forked == 0 || forked != reaped || reaped != r.WorkUnits || r.Counters["fork_errors"] != 0 {
		t.Fatalf("forked = %d, reaped = %d, work_units = %d, fork_errors = %d; want forked == reaped == work_units > 0",
			forked, reaped, r.WorkUnits, r.Counters["fork_errors"])
	}
	if r.WakeSampleTotal != reaped {
		t.Errorf("wake samples = %d, want one per reaped child (%d)", r.WakeSampleTotal, reaped)
	}
	// A child is reaped before the next is forked: never more than one at a time.
	if most > 1 {
		t.Errorf("saw %d children of the worker at once, want at most 1", most)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("worker %d still exists after stop", pid)
	}
}

// TestForkExitNoCopyOnWrite: the worker's private memory is not copied
// into its children, so its own writes between forks take no
// copy-on-write faults (14 a fork before, against 2 for a C loop).
func TestForkExitNoCopyOnWrite(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("ForkExit forks only on amd64")
	}
	h := spawnWork(t, Config{Work: MustWork("ForkExit", nil)})
	pid := h.Pids()[0]
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitIterations(t, h, 10)
	f0, i0 := minflt(t, pid), h.SnapshotIterations()[0]
	waitIterations(t, h, i0+500)
	f1, i1 := minflt(t, pid), h.SnapshotIterations()[0]
	shared := forkCopied(t, pid)
	stopWork(t, h)
	per := float64(f1-f0) / float64(i1-i0)
	t.Logf("%.2f minor faults per fork over %d forks", per, i1-i0)
	if per > 1 {
		t.Errorf("%.1f minor faults per fork over %d forks, want under 1: the children still share the worker's writable pages", per, i1-i0)
	}
	// The cause, whatever the timing: a writable private mapping made
	// after the worker marked its own (a thread stack the runtime added
	// during a wait, say) is shared with every child.
	if len(shared) > 0 {
		t.Errorf("after %d forks, private writable mappings a fork copies: %v", i1-i0, shared)
	}
}

// forkCopied lists the private writable mappings of process pid that a
// fork copies (no "dc" among their VmFlags in /proc/PID/smaps).
func forkCopied(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var mapping string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			mapping = ""
			if f[1][1] == 'w' && f[1][3] == 'p' {
				mapping = line
			}
		case len(f) > 0 && f[0] == "VmFlags:" && mapping != "" && !slices.Contains(f[1:], "dc"):
			out = append(out, mapping)
		}
	}
	return out
}

// waitIterations waits until worker 0 of h has published n iterations.
func waitIterations(t *testing.T, h *Handle, n uint64) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); h.SnapshotIterations()[0] < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("worker 0 did not reach %d iterations in 30s", n)
		}
	}
}

func TestNiceSweep(t *testing.T) {
	testenv.NeedCapSysNice(t) // asserts negative nice values
	h := spawnWork(t, Config{Work: MustWork("NiceSweep", nil)})
	pid := h.Pids()[0]
	seen := map[int64]bool{}
	sampleWhileRunning(t, h, 0, time.Millisecond, func() bool {
		if st, ok := procStat(pid); ok {
			seen[int64(st.Nice)] = true
		}
		return len(seen) >= 2 && slices.ContainsFunc(slices.Collect(maps.Keys(seen)), func(n int64) bool { return n < 0 })
	})
	r := stopWork(t, h)[0]
	if len(seen) < 2 {
		t.Errorf("nice values seen in /proc/%d/stat: %v, want it to change", pid, seen)
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(seen)), func(n int64) bool { return n < 0 }) {
		t.Errorf("no negative nice seen (%v) although the test runs with CAP_SYS_NICE", seen)
	}
	if r.Counters["nice_reset_ok"] != 1 || r.Counters["negative_nice_skipped"] != 0 || r.Counters["nice_set_errors"] != 0 {
		t.Errorf("counters %v: want nice_reset_ok = 1, no skip, no errors", r.Counters)
	}
	if r.Counters["nice_sets"] != r.Iterations {
		t.Errorf("nice_sets = %d, want one per iteration (%d)", r.Counters["nice_sets"], r.Iterations)
	}
}

func TestPolicyChurn(t *testing.T) {
	testenv.NeedCapSysNice(t) // asserts no RT policy is skipped
	h := spawnWork(t, Config{Work: MustWork("PolicyChurn", nil)})
	pid := h.Pids()[0]
	seen := map[uint32]bool{}
	sampleWhileRunning(t, h, 0, time.Millisecond, func() bool {
		if a, err := unix.SchedGetAttr(pid, 0); err == nil {
			seen[a.Policy] = true
		}
		return len(seen) >= 2
	})
	r := stopWork(t, h)[0]
	if len(seen) < 2 {
		t.Errorf("policies seen by sched_getattr(%d): %v, want it to change", pid, seen)
	}
	if r.Counters["policy_reset_ok"] != 1 || r.Counters["rt_policies_skipped"] != 0 || r.Counters["policy_set_errors"] != 0 {
		t.Errorf("counters %v: want policy_reset_ok = 1, no skip, no errors", r.Counters)
	}
}

// TestChurnProbesWithoutCapSysNice drops CAP_SYS_NICE from one thread's
// effective set (capabilities are per thread) and checks that the probes
// NiceSweep and PolicyChurn use then skip negative nice and RT policies.
func TestChurnProbesWithoutCapSysNice(t *testing.T) {
	var floor int
	var rt bool
	var capErr error
	onLockedThread(func() {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if capErr = unix.Capget(&hdr, &data[0]); capErr != nil {
			return
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_NICE
		if capErr = unix.Capset(&hdr, &data[0]); capErr != nil {
			return
		}
		floor, rt = niceFloor(), rtAllowed()
	})
	if capErr != nil {
		t.Fatalf("drop CAP_SYS_NICE: %v", capErr)
	}
	if floor != 0 || rt {
		t.Fatalf("without CAP_SYS_NICE: nice floor %d, RT allowed %v; want 0 and false", floor, rt)
	}
	if n := len(churnPolicies(false)); n != 3 {
		t.Fatalf("unprivileged policy cycle has %d entries, want OTHER, BATCH, IDLE", n)
	}
}

func TestAffinityChurn(t *testing.T) {
	online, err := topo.OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	testenv.CPUs(t, 2) // AffinityChurn needs two to migrate between
	r := runFor(t, Config{Work: MustWork("AffinityChurn", nil)}, 300*time.Millisecond)[0]
	if !slices.Equal(r.CPUsUsed, online) {
		t.Errorf("cpus_used = %v, want every allowed CPU %v", r.CPUsUsed, online)
	}
	if r.MigrationCount == 0 || r.Counters["affinity_errors"] != 0 {
		t.Errorf("migration_count = %d, affinity_errors = %d; want > 0 and 0", r.MigrationCount, r.Counters["affinity_errors"])
	}
}

func TestNumaMigrationChurn(t *testing.T) {
	nodes, err := topo.OnlineNodes()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range nodes {
		cpus, _ := topo.NodeCPUList(n)
		want[FormatCPUList(cpus)] = true
	}
	// Start pinned to one CPU alone: any mask seen later that equals a
	// node's CPU set was set by the worker itself.
	h := spawnWork(t, Config{Work: MustWork("NumaMigrationChurn", map[string]any{"period_ms": 5}), Affinity: Exact(testenv.CPU(t))})
	pid := h.Pids()[0]
	seen := map[string]bool{}
	sampleWhileRunning(t, h, 0, 2*time.Millisecond, func() bool {
		if m := allowedCPUs(pid); m != "" {
			seen[m] = true
		}
		for m := range want {
			if !seen[m] {
				return false
			}
		}
		return true
	})
	r := stopWork(t, h)[0]
	for m := range want {
		if !seen[m] {
			t.Errorf("worker mask never was node CPU set %s (seen %v)", m, seen)
		}
	}
	var visits uint64
	for _, n := range nodes {
		visits += r.Counters[fmt.Sprintf("node%d_visits", n)]
	}
	if visits == 0 || visits != r.Iterations || r.Counters["affinity_errors"] != 0 {
		t.Errorf("node visits %d, iterations %d, counters %v; want one visit per iteration", visits, r.Iterations, r.Counters)
	}
}

// allowedCPUs returns Cpus_allowed_list of /proc/PID/status.
func allowedCPUs(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
