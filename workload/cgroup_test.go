package workload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/internal/testenv"
)

// testGroup creates ktstar-<pid>-<run id>/name in the host's cgroup v2 hierarchy,
// destroyed (workers killed, groups removed) when the test ends.
func testGroup(t *testing.T, name string) *cgroupfs.Manager {
	t.Helper()
	testenv.NeedCgroupV2(t)
	cg, err := testRun(t).NewChild(name)
	if err != nil {
		t.Fatal(err)
	}
	return cg
}

// testSetGroup creates name below a new test run with controller enabled,
// with file (e.g. pids.max) set to value.
func testSetGroup(t *testing.T, controller, name, file, value string) *cgroupfs.Manager {
	t.Helper()
	cg, err := testRun(t, controller).NewChild(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg.Path(), file), []byte(value), 0); err != nil {
		t.Fatal(err)
	}
	return cg
}

// testRun creates the run group ktstar-<pid> with controllers enabled for
// its children, destroyed with everything below it when the test ends.
func testRun(t *testing.T, controllers ...string) *cgroupfs.Manager {
	t.Helper()
	root, err := cgroupfs.Default()
	if err != nil {
		t.Fatal(err)
	}
	run, err := root.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if len(controllers) > 0 {
		if err := run.EnableControllers(controllers...); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

// runInCgroup spawns two spinning workers into cg, checks from outside
// that they sit in it before the start gate, runs them briefly and
// returns their reports.
func runInCgroup(t *testing.T, cg Cgroup) (*Handle, []Report) {
	t.Helper()
	h, err := Spawn(Config{Workers: 2, Work: MustWork("SpinWait", nil), Cgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for _, pid := range h.Pids() {
		if got, err := cgroupfs.ProcCgroup(pid); err != nil || got != cg.Group() {
			t.Errorf("parked worker %d: /proc/%d/cgroup = %q, %v; want %q", pid, pid, got, err, cg.Group())
		}
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 1)
	reports, err := h.StopAndCollect()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reports {
		if !r.Completed || r.Cgroup != cg.Group() {
			t.Errorf("worker %d: completed %v, reported cgroup %q; want %q", i, r.Completed, r.Cgroup, cg.Group())
		}
	}
	return h, reports
}

func TestSpawnIntoCgroup(t *testing.T) {
	cg := testGroup(t, "workers")
	h, _ := runInCgroup(t, cg)
	if err := h.CgroupFallback(); err != nil {
		t.Errorf("clone into cgroup fell back: %v", err)
	}
	if pids, err := cg.Procs(false); err != nil || len(pids) != 0 {
		t.Errorf("group after stop holds %v, %v; want nothing", pids, err)
	}
}

// notCgroupDir stands in for a kernel without CLONE_INTO_CGROUP: its
// directory fd is not a cgroup, so clone3 fails (EBADF) and Spawn must
// take runc's fallback through cgroup.procs of the real group.
type notCgroupDir struct {
	*cgroupfs.Manager
	moveErr error
}

func (n notCgroupDir) OpenDir() (*os.File, error) {
	return os.OpenFile(os.TempDir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func (n notCgroupDir) AddProc(pid int) error {
	if n.moveErr != nil {
		return n.moveErr
	}
	return n.Manager.AddProc(pid)
}

func TestSpawnIntoCgroupFallback(t *testing.T) {
	cg := testGroup(t, "fallback")
	h, _ := runInCgroup(t, notCgroupDir{Manager: cg})
	err := h.CgroupFallback()
	if err == nil || !strings.Contains(err.Error(), "start inside cgroup "+cg.Group()+" failed, so workers are moved through cgroup.procs") {
		t.Errorf("CgroupFallback = %v, want the clone3 failure", err)
	}
}

func TestSpawnIntoCgroupMoveFails(t *testing.T) {
	cg := testGroup(t, "refuses")
	_, err := Spawn(Config{Workers: 2, Work: MustWork("SpinWait", nil), Cgroup: notCgroupDir{Manager: cg, moveErr: unix.EBUSY}})
	if err == nil || !strings.Contains(err.Error(), "move into cgroup "+cg.Group()) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("Spawn = %v, want the move error", err)
	}
	if pids, _ := cg.Procs(false); len(pids) != 0 {
		t.Errorf("group holds %v after a failed spawn", pids)
	}
}
