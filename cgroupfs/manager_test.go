package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/owner"
	"github.com/ktstar/ktstar/internal/testenv"
)

// ownerHelperEnv turns the test binary into a run owner for TestSweep: it
// creates its run group and a child holding a straggler process, prints
// both, and blocks until killed.
const ownerHelperEnv = "KTSTAR_CGROUPFS_OWNER_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(ownerHelperEnv) != "" {
		os.Exit(ownerHelper())
	}
	os.Exit(m.Run())
}

func ownerHelper() int {
	root, err := Default()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	run, err := root.NewRun()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	a, err := run.NewChild("a")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	straggler := exec.Command("sleep", "1000")
	straggler.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := straggler.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	if err := a.AddProc(straggler.Process.Pid); err != nil {
		straggler.Process.Kill()
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(run.Group(), straggler.Process.Pid)
	select {}
}

// testRoot returns the host's v2 root, skipping when there is none or
// when not root (the tests write cgroup files).
func testRoot(t *testing.T) *Manager {
	t.Helper()
	testenv.NeedCgroupV2(t)
	root, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// testRun creates this process's run group, destroyed when the test ends
// (also when it fails).
func testRun(t *testing.T) *Manager {
	t.Helper()
	run, err := testRoot(t).NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return run
}

// testChild creates the child name of run.
func testChild(t *testing.T, run *Manager, name string) *Manager {
	t.Helper()
	c, err := run.NewChild(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sleeper starts a process that the test kills and reaps at its end.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	p, err := ProcCgroup(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRealMount(t *testing.T) {
	root := testRoot(t)
	t.Logf("cgroup v2 mount: %s", root.Path())
	if _, err := ProcCgroup(0); err != nil {
		t.Errorf("own /proc/self/cgroup: %v", err)
	}
	if _, err := root.Controllers(); err != nil {
		t.Error(err)
	}
	if err := root.Delete(); !errors.Is(err, ErrRootGroup) {
		t.Errorf("Delete on the root: %v, want ErrRootGroup", err)
	}
	err := writeFile(root.Mount(), "/ktstar-no-such-group", "cpuset.cpus", "0-3")
	want := fmt.Sprintf(`write cpuset.cpus "0-3" in %s/ktstar-no-such-group: no such file or directory (ENOENT)`, root.Mount())
	var fe *FileError
	if !errors.As(err, &fe) || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestLifecycle(t *testing.T) {
	run := testRun(t)
	o, ok := run.owner()
	if !ok || o.Pid != os.Getpid() {
		t.Fatalf("owner xattr = %+v, %v", o, ok)
	}
	if want := "/" + RunPrefix + strconv.Itoa(os.Getpid()) + "-" + o.Run; run.Group() != want {
		t.Fatalf("run group %q, want %q", run.Group(), want)
	}
	// A second run of the same process (another pid namespace may share
	// the pid) gets a group of its own.
	again, err := run.Parent().NewRun()
	if err != nil || again.Path() == run.Path() {
		t.Fatalf("second NewRun = %v, %v; want a group of its own", again, err)
	}
	if err := again.Destroy(); err != nil {
		t.Fatal(err)
	}
	a := testChild(t, run, "a")
	if _, err := run.NewChild("b/c"); err != nil {
		t.Fatal(err)
	}
	if kids, _ := run.Children(); !slices.Equal(kids, []string{"a", "b"}) {
		t.Errorf("children = %v, want [a b]", kids)
	}
	if _, err := run.NewChild("../escape"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewChild(../escape) = %v, want ErrInvalidName", err)
	}

	cmd := sleeper(t)
	pid := cmd.Process.Pid
	if err := a.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	if got := cgroupOf(t, pid); got != a.Group() {
		t.Errorf("/proc/%d/cgroup = %q, want %q", pid, got, a.Group())
	}
	if procs, _ := run.Procs(true); !slices.Equal(procs, []int{pid}) {
		t.Errorf("recursive procs = %v, want [%d]", procs, pid)
	}
	if ev, _ := a.Events(); !ev.Populated {
		t.Errorf("events = %+v, want populated", ev)
	}

	if err := run.Freeze(); err != nil {
		t.Fatal(err)
	}
	if ev, _ := a.Events(); !ev.Frozen {
		t.Errorf("child events after freezing the parent = %+v, want frozen", ev)
	}
	if err := run.Thaw(); err != nil {
		t.Fatal(err)
	}
	if ev, _ := a.Events(); ev.Frozen {
		t.Errorf("events after thaw = %+v", ev)
	}

	err = run.Delete()
	if err == nil || !strings.Contains(err.Error(), "still holds processes") || !errors.Is(err, unix.EBUSY) {
		t.Errorf("Delete of a populated tree = %v, want EBUSY naming the processes", err)
	}
	if err := run.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("sleeper exit = %v, want killed", err)
	}
	if err := run.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Delete: %v", run.Path(), err)
	}
	if err := run.Delete(); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
}

func TestKillFallback(t *testing.T) {
	run := testRun(t)
	a := testChild(t, run, "a")
	cmd := sleeper(t)
	if err := a.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// The freeze, SIGKILL each, thaw path used without cgroup.kill.
	if err := run.killEach(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("sleeper survived killEach")
	}
	if err := a.waitEvents(func(ev Events) bool { return !ev.Populated }, "populated 0"); err != nil {
		t.Error(err)
	}
}

func TestAddProcGone(t *testing.T) {
	run := testRun(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone, err := run.AddProcs([]int{cmd.Process.Pid})
	if err != nil || !slices.Equal(gone, []int{cmd.Process.Pid}) {
		t.Errorf("AddProcs(exited pid) = %v, %v; want it reported gone", gone, err)
	}
	if err := run.AddProc(0); err == nil {
		t.Error("AddProc(0) succeeded")
	}
}

func TestAddProcBusy(t *testing.T) {
	run := testRun(t)
	avail, err := run.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) == 0 {
		t.Skipf("no controller is enabled for %s (root cgroup.subtree_control is empty), so the no-internal-process EBUSY cannot be provoked without writing the root's file", run.Path())
	}
	if err := run.EnableControllers(avail[0]); err != nil {
		t.Fatal(err)
	}
	cmd := sleeper(t)
	err = run.AddProc(cmd.Process.Pid)
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "cannot hold processes") {
		t.Errorf("AddProc into a group with subtree controllers = %v, want explained EBUSY", err)
	}
}

func TestControllers(t *testing.T) {
	run := testRun(t)
	a := testChild(t, run, "a")
	missing, err := run.MissingControllers("cpuset", "no-such-controller")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(missing, "no-such-controller") {
		t.Errorf("missing = %v, want no-such-controller listed", missing)
	}
	err = run.EnableControllers("no-such-controller")
	var ce *ControllerError
	if !errors.As(err, &ce) || !errors.Is(err, ErrControllerUnavailable) || !slices.Equal(ce.Controllers, []string{"no-such-controller"}) {
		t.Errorf("EnableControllers(no-such-controller) = %v", err)
	}
	if !slices.Contains(missing, "cpuset") {
		return
	}
	// This host: cpuset belongs to a v1 hierarchy. Every cpuset operation
	// must say so instead of doing nothing.
	cpu := testenv.CPU(t)
	err = a.SetCpus([]int{cpu})
	if !errors.Is(err, ErrControllerUnavailable) || !strings.Contains(err.Error(), fmt.Sprintf(`write cpuset.cpus "%d" in %s`, cpu, a.Path())) {
		t.Errorf("SetCpus without cpuset = %v", err)
	}
	if _, err := a.Cpus(); !errors.Is(err, ErrControllerUnavailable) {
		t.Errorf("Cpus without cpuset = %v", err)
	}
	t.Logf("SetCpus error: %v", err)
}

func TestCpuset(t *testing.T) {
	testenv.NeedController(t, "cpuset")
	run := testRun(t)
	cpu := []int{testenv.CPU(t)}
	a := testChild(t, run, "a")
	if err := a.SetCpus(cpu); !errors.Is(err, ErrControllerNotEnabled) {
		t.Errorf("SetCpus before enabling = %v, want ErrControllerNotEnabled", err)
	}
	if err := run.EnableControllers("cpuset"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCpus(cpu); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Cpus(); err != nil || !slices.Equal(got, cpu) {
		t.Errorf("Cpus = %v, %v; want %v", got, err, cpu)
	}
	if got, err := a.EffectiveCpus(); err != nil || !slices.Equal(got, cpu) {
		t.Errorf("EffectiveCpus = %v, %v; want %v", got, err, cpu)
	}
	if err := a.SetMems([]int{0}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Mems(); err != nil || !slices.Equal(got, []int{0}) {
		t.Errorf("Mems = %v, %v; want [0]", got, err)
	}
	err := a.SetCpus([]int{4095})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), `write cpuset.cpus "4095"`) {
		t.Errorf("SetCpus(4095) = %v, want EINVAL naming file and data", err)
	}
	if err := a.ClearCpus(); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Cpus(); len(got) != 0 {
		t.Errorf("Cpus after clear = %v", got)
	}
}

func TestCloneIntoCgroup(t *testing.T) {
	run := testRun(t)
	a := testChild(t, run, "a")
	dir, err := a.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start with CLONE_INTO_CGROUP: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if got := cgroupOf(t, cmd.Process.Pid); got != a.Group() {
		t.Errorf("/proc/%d/cgroup = %q, want %q", cmd.Process.Pid, got, a.Group())
	}
}

// TestSweep covers the ways a run group can be stale (owner killed, pid
// reused, another boot) and the ways it must be kept: a live owner, an
// owner that cannot be checked (none recorded, another pid namespace)
// and a group that still holds a process.
func TestSweep(t *testing.T) {
	root := testRoot(t)

	// A real owner process that is SIGKILLed, leaving its group and a
	// straggler behind.
	ownerCmd, line := testenv.StartHelper(t, ownerHelperEnv)
	var ownerGroup string
	straggler := 0
	t.Cleanup(func() {
		if straggler > 0 {
			unix.Kill(straggler, unix.SIGKILL)
		}
		if g, err := Load(root.Mount(), ownerGroup); err == nil && ownerGroup != "" {
			g.Destroy()
		}
	})
	if _, err := fmt.Sscanf(line, "%s %d", &ownerGroup, &straggler); err != nil || !strings.HasPrefix(ownerGroup, "/"+RunPrefix+strconv.Itoa(ownerCmd.Process.Pid)+"-") {
		t.Fatalf("owner helper said %q", line)
	}

	self, err := owner.Self()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, o *owner.ID) *Manager {
		g, err := root.NewChild(RunPrefix + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Destroy() })
		if o != nil {
			if err := g.setOwner(*o); err != nil {
				t.Fatal(err)
			}
		}
		return g
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone := self
	gone.Pid = dead.Process.Pid
	reused := self
	reused.Start++
	otherBoot := self
	otherBoot.Boot = "00000000"
	otherNS := gone
	otherNS.PidNS++
	stale := []*Manager{mk("test-gone", &gone), mk("test-reused", &reused), mk("test-boot", &otherBoot)}
	kept := []*Manager{mk("test-live", &self), mk("test-ns", &otherNS), mk("test-unrecorded", nil)}

	check := func(when string, wantRemoved, wantKept []string) {
		t.Helper()
		removed, err := root.Sweep()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range wantRemoved {
			if !slices.Contains(removed, g) {
				t.Errorf("%s: sweep removed %v, want %s among them", when, removed, g)
			}
		}
		for _, g := range wantKept {
			if slices.Contains(removed, g) {
				t.Errorf("%s: sweep removed %s", when, g)
			}
			if _, err := os.Stat(g); err != nil {
				t.Errorf("%s: %s is gone: %v", when, g, err)
			}
		}
	}
	var stalePaths, keptPaths []string
	for _, g := range stale {
		stalePaths = append(stalePaths, g.Path())
	}
	for _, g := range kept {
		keptPaths = append(keptPaths, g.Path())
	}
	ownerPath := root.Mount() + ownerGroup
	check("owner alive", stalePaths, append(keptPaths, ownerPath))

	// The owner dies, its straggler lives on: the group is kept.
	ownerCmd.Process.Kill()
	ownerCmd.Wait()
	check("straggler alive", nil, append(keptPaths, ownerPath))

	// Once the straggler is gone too (init reaps it), the group goes.
	unix.Kill(straggler, unix.SIGKILL)
	g, err := Load(root.Mount(), ownerGroup)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(settleLimit) // what the manager itself waits for cgroup.events
	for ev, _ := g.Events(); ev.Populated; ev, _ = g.Events() {
		if time.Now().After(deadline) {
			t.Fatalf("straggler %d still in %s after SIGKILL (%v)", straggler, ownerGroup, settleLimit)
		}
		time.Sleep(10 * time.Millisecond) // until the kernel publishes the exit
	}
	check("owner and straggler gone", []string{ownerPath}, keptPaths)
}
