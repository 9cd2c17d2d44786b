package workload

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/kernfs"
	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/topo"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
	"golang.org/x/sys/unix"
)

// Guest-only tests: each runs inside a QEMU guest of the shape it asks
// for (vm/vmtest), for what this host lacks: a pure cgroup v2 hierarchy
// with the cpuset controller, several NUMA nodes, a scratch disk. They run
// under make test-guest and skip otherwise.

// TestGuestWorkerParent checks the spec's orphan check (runtime.md §4.3
// step 2) inside a guest. The run (here: this test) is the guest init's
// child, so its parent is PID 1 by design; a worker's parent is the run,
// never PID 1. Go's exec applies Pdeathsig and then compares getppid()
// with the pid of the process that forked it, not with 1, so nothing in
// ktstar treats "parent is PID 1" as orphaned: the check needs no guest
// exception, and parent death still kills the workers in the guest.
func TestGuestWorkerParent(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 2}) {
		return
	}
	if os.Getppid() != 1 || os.Getenv(vm.GuestEnv) == "" {
		t.Fatalf("parent %d, %s=%q: want the guest init's run child", os.Getppid(), vm.GuestEnv, os.Getenv(vm.GuestEnv))
	}
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("SpinWait", nil)})
	for _, pid := range h.Pids() {
		if st, _ := procStat(pid); st.PPID != os.Getpid() {
			t.Errorf("worker %d: parent %d, want the spawner %d", pid, st.PPID, os.Getpid())
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	stopWork(t, h)
	checkParentDeath(t)
}

// TestGuestCpusets runs two groups of workers in two cgroups with disjoint
// cpusets: every worker's cpus_used stays inside its group's cpuset.
func TestGuestCpusets(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 4}) {
		return
	}
	leakCheck(t)
	run := testRun(t, "cpuset")
	sets := [][]int{{0, 1}, {2, 3}}
	var handles []*Handle
	for i, cpus := range sets {
		cg, err := run.NewChild(fmt.Sprintf("set%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := cg.SetCpus(cpus); err != nil {
			t.Fatal(err)
		}
		// Three spinners on two CPUs, so the scheduler has reason to move
		// them, and only the cpuset keeps them in.
		h := spawnWork(t, Config{Workers: 3, Work: MustWork("SpinWait", nil), Cgroup: cg})
		if err := h.CgroupFallback(); err != nil {
			t.Errorf("group %d: clone into cgroup fell back: %v", i, err)
		}
		handles = append(handles, h)
	}
	for _, h := range handles {
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range handles {
		testenv.WaitProgress(t, h.SnapshotIterations, 1, time.Second, parkLimit)
	}
	for i, h := range handles {
		for w, r := range stopWork(t, h) {
			if len(r.CPUsUsed) == 0 {
				t.Errorf("group %d worker %d: no cpus_used", i, w)
			}
			for _, c := range r.CPUsUsed {
				if !slices.Contains(sets[i], c) {
					t.Errorf("group %d worker %d ran on CPU %d, outside its cpuset %v (cpus_used %v)", i, w, c, sets[i], r.CPUsUsed)
				}
			}
		}
	}
}

// TestGuestNumaSweep sweeps working sets over nodes 0 and 1 of a two-node
// guest: the region is seen resident on both nodes while it runs, the
// reports count every page of it, and the system's numa_pages_migrated
// counter moved.
//
// That counter counts NUMA balancing's migrations only (mbind's moves are
// pgmigrate_success), so the test gives balancing work it must do: the
// workers start on node 0's CPUs and are moved to node 1's, leaving the
// memory they touch all the time (stacks, runtime data; the bound region
// is mbind's) remote, and the guest's balancing scans start after 100 ms
// instead of a second of CPU time.
func TestGuestNumaSweep(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 4, NUMA: 2, Memory: 1 << 30}) {
		return
	}
	leakCheck(t)
	fastNumaBalancing(t)
	const regionKB = 4096
	node0, err0 := topo.NodeCPUList(0)
	node1, err1 := topo.NodeCPUList(1)
	if err0 != nil || err1 != nil || len(node0) == 0 || len(node1) == 0 {
		t.Fatalf("guest nodes: %v (%v), %v (%v)", node0, err0, node1, err1)
	}
	h := spawnWork(t, Config{Workers: 2, Affinity: Exact(node0...), Work: MustWork("NumaWorkingSetSweep", map[string]any{
		"target_nodes": []int64{0, 1}, "sweep_period_ms": 0, "region_kb": regionKB,
	})})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	// The region is the mapping mbind gave a bind policy; poll where its
	// pages are while the sweeps run.
	seen := map[int]bool{}
	poll := func(d time.Duration) {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, pid := range h.Pids() {
				for n := range boundPages(pid) {
					seen[n] = true
				}
			}
		}
	}
	poll(time.Second)
	for i := range h.Pids() {
		if err := h.SetAffinity(i, node1); err != nil {
			t.Fatal(err)
		}
	}
	poll(2 * time.Second)
	reports := stopWork(t, h)
	if !seen[0] || !seen[1] {
		t.Errorf("the swept regions were seen on nodes %v, want 0 and 1", seen)
	}
	var migrated uint64
	for w, r := range reports {
		var pages uint64
		for _, p := range r.NumaPages {
			pages += p
		}
		if pages != regionKB/4 || r.Counters["mbind_calls"] == 0 || r.Counters["mbind_errors"] != 0 {
			t.Errorf("worker %d: numa_pages %v (want %d pages in all), counters %v", w, r.NumaPages, regionKB/4, r.Counters)
		}
		migrated = max(migrated, r.VmstatNumaPagesMigrated)
	}
	t.Logf("vmstat numa_pages_migrated delta %d; regions seen on nodes %v", migrated, seen)
	if migrated == 0 {
		t.Error("vmstat numa_pages_migrated did not move")
	}
}

// fastNumaBalancing turns NUMA balancing on and makes its scans start
// after 100 ms of a task's CPU time and repeat as often (the knobs are in
// debugfs since Linux 5.13). Only ever called inside a throwaway guest.
func fastNumaBalancing(t *testing.T) {
	t.Helper()
	if !vmtest.InGuest() {
		t.Fatal("fastNumaBalancing outside a guest")
	}
	if err := os.WriteFile("/proc/sys/kernel/numa_balancing", []byte("1"), 0); err != nil {
		t.Fatalf("enable NUMA balancing: %v", err)
	}
	const debugfs = "/sys/kernel/debug"
	if err := unix.Mount("debugfs", debugfs, "debugfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		t.Fatalf("mount debugfs: %v", err)
	}
	for _, knob := range []string{"scan_delay_ms", "scan_period_min_ms"} {
		if err := os.WriteFile(debugfs+"/sched/numa_balancing/"+knob, []byte("100"), 0); err != nil {
			t.Fatalf("NUMA balancing %s: %v", knob, err)
		}
	}
}

// boundPages returns the resident pages per node of pid's mappings with a
// bind policy (the swept regions).
func boundPages(pid int) map[int]uint64 {
	maps, err := kernfs.ReadNumaMaps(kernfs.Proc, strconv.Itoa(pid))
	if err != nil {
		return nil
	}
	return kernfs.SumPages(maps, func(m kernfs.NumaMapping) bool { return strings.HasPrefix(m.Policy, "bind:") })
}

// TestGuestIOScratchDisk runs the IO types on the guest's scratch disk,
// the one place a test may name a block device in io_device: inside the
// guest /dev/vda is the empty disk vm attached (checked by its size before
// anything is written), never a host disk.
func TestGuestIOScratchDisk(t *testing.T) {
	const diskBytes = 64 << 20
	if vmtest.OnHost(t, vm.Options{CPUs: 2, Disk: diskBytes}) {
		return
	}
	leakCheck(t)
	const dev = "/dev/vda"
	if b, err := os.ReadFile("/sys/block/vda/size"); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(diskBytes/512) {
		t.Fatalf("%s is not the %d-byte scratch disk (size %q, %v): refusing to write to it", dev, diskBytes, b, err)
	}
	for _, name := range []string{"IoSyncWrite", "IoRandRead", "IoConvoy"} {
		t.Run(name, func(t *testing.T) {
			params := map[string]any{"io_device": dev}
			writes := slices.ContainsFunc(MustWork(name, nil).Type().Params, func(p Param) bool { return p.Name == "allow_destructive" })
			if writes {
				// Without the opt-in a writing type refuses the device.
				if _, err := NewWork(name, params); err == nil || !strings.Contains(err.Error(), "set allow_destructive = True to confirm") {
					t.Fatalf("%s on %s without allow_destructive: %v, want a refusal", name, dev, err)
				}
				params["allow_destructive"] = true
			}
			w, err := NewWork(name, params)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range runFor(t, Config{Workers: 2, Work: w}, 300*time.Millisecond) {
				if r.WorkUnits == 0 || r.WakeSampleTotal == 0 {
					t.Errorf("worker %d: work_units %d, wake samples %d", i, r.WorkUnits, r.WakeSampleTotal)
				}
			}
			if left, _ := os.ReadDir(scratchDir("")); len(left) > 0 {
				t.Errorf("a device run left scratch files: %v", left)
			}
		})
	}
}
