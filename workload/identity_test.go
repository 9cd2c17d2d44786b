package workload

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/cpulist"
)

// TestUIDGID runs workers under another uid and gid: /proc/PID/status
// shows them (real, effective, saved and fs ids) while they run, after
// the privileged prologue (a real-time policy) was applied as root, and
// the workers still report.
func TestUIDGID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing uid and gid needs root")
	}
	for _, mode := range []CloneMode{CloneFork, CloneThread} {
		t.Run(mode.String(), func(t *testing.T) { testUIDGID(t, mode) })
	}
}

// testUIDGID is TestUIDGID in one clone mode: in thread mode the ids are
// the host's, set once every thread has its real-time policy.
func testUIDGID(t *testing.T, mode CloneMode) {
	leakCheck(t)
	uid, gid := 65534, 65533
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("FutexPingPong", nil), UID: &uid, GID: &gid, Policy: Fifo(1), CloneMode: mode})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 10)
	for _, pid := range h.Pids() {
		want := func(id int) string { return fmt.Sprintf("%d\t%d\t%d\t%d", id, id, id, id) }
		if got := procField(t, pid, "status", "Uid"); got != want(uid) {
			t.Errorf("worker %d: Uid %q, want %q", pid, got, want(uid))
		}
		if got := procField(t, pid, "status", "Gid"); got != want(gid) {
			t.Errorf("worker %d: Gid %q, want %q", pid, got, want(gid))
		}
		if got := procField(t, pid, "sched", "policy"); got != "1" {
			t.Errorf("worker %d: policy %s, want 1 (applied before the uid was dropped)", pid, got)
		}
	}
	stopWork(t, h)
	if mode == CloneThread {
		other := uid - 1
		_, err := Spawn(Config{Workers: 1, CloneMode: mode, UID: &uid, Composed: []Config{{Workers: 1, CloneMode: mode, UID: &other}}})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "credentials are process-wide") {
			t.Errorf("two uids in one host: err = %v, want a refusal saying credentials are process-wide", err)
		}
	}
}

// TestNUMANode restricts workers to a node's CPUs, replacing the mask
// affinity asked for, and refuses a node that does not exist before
// anything forks.
func TestNUMANode(t *testing.T) {
	leakCheck(t)
	b, err := os.ReadFile("/sys/devices/system/node/node0/cpulist")
	if err != nil {
		t.Skipf("no NUMA node 0 in sysfs: %v", err)
	}
	want, err := cpulist.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	node := 0
	h := spawnWork(t, Config{Workers: 1, Work: MustWork("SpinWait", nil), Affinity: Exact(want[0]), NUMANode: &node})
	if got := procField(t, h.Pids()[0], "status", "Cpus_allowed_list"); got != cpulist.Format(want) {
		t.Errorf("numa_node = 0: Cpus_allowed_list %s, want node 0's %s", got, cpulist.Format(want))
	}
	stopWork(t, h)

	bad := 4095
	_, err = Spawn(Config{Workers: 1, NUMANode: &bad})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "numa_node = 4095: no such NUMA node (online nodes: ") {
		t.Errorf("numa_node = 4095: err = %v", err)
	}
}

// TestIdentityRanges refuses ids setresuid could not set.
func TestIdentityRanges(t *testing.T) {
	neg, big := -1, 1<<32-1
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Workers: 1, UID: &neg}, "uid = -1 is out of range (allowed: 0..4294967294)"},
		{Config{Workers: 1, GID: &big}, "gid = 4294967295 is out of range"},
		{Config{Workers: 1, NUMANode: &neg}, "numa_node = -1 is out of range"},
	} {
		if err := c.cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}
