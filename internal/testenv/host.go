package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedRoot skips t unless it runs as root (cgroup files, RT policies).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipf(t, "needs root (euid is %d)", os.Geteuid())
	}
}

// Mode is how the host mounts cgroups.
type Mode int

// The cgroup layouts a host can have.
const (
	CgroupNone   Mode = iota // no cgroup2 file system (v1 only, or none)
	CgroupHybrid             // v1 hierarchies plus a v2 one at /sys/fs/cgroup/unified
	CgroupV2                 // a pure v2 hierarchy at /sys/fs/cgroup
)

// String names the mode as the skip reasons do.
func (m Mode) String() string {
	switch m {
	case CgroupV2:
		return "pure cgroup v2"
	case CgroupHybrid:
		return "hybrid cgroups (v1 owns the controllers, v2 at /sys/fs/cgroup/unified)"
	}
	return "no cgroup v2 hierarchy"
}

// v2Mounts are where a cgroup2 file system sits, by mode.
var v2Mounts = map[Mode]string{CgroupV2: "/sys/fs/cgroup", CgroupHybrid: "/sys/fs/cgroup/unified"}

// CgroupMode reports how this host mounts cgroups, by the file system
// type of the two places systemd puts the v2 hierarchy.
func CgroupMode() Mode {
	for _, m := range []Mode{CgroupV2, CgroupHybrid} {
		var st unix.Statfs_t
		if unix.Statfs(v2Mounts[m], &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return m
		}
	}
	return CgroupNone
}

// NeedCgroupV2 skips t unless it runs as root on a host with a cgroup v2
// hierarchy (pure or hybrid), and returns that hierarchy's mount point.
func NeedCgroupV2(t testing.TB) string {
	t.Helper()
	NeedRoot(t)
	m := CgroupMode()
	if m == CgroupNone {
		skipf(t, "needs a cgroup v2 hierarchy; this host has %s", m)
	}
	return v2Mounts[m]
}

// HasController reports whether the v2 hierarchy's root offers the
// controller (its cgroup.controllers lists it). On a hybrid host the v1
// hierarchies usually own every controller, so the answer is no.
func HasController(name string) bool {
	mount, ok := v2Mounts[CgroupMode()]
	if !ok {
		return false
	}
	b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	return err == nil && slices.Contains(strings.Fields(string(b)), name)
}

// NeedController skips t unless NeedCgroupV2 passes and the v2 root
// offers the controller.
func NeedController(t testing.TB, name string) {
	t.Helper()
	mount := NeedCgroupV2(t)
	if !HasController(name) {
		skipf(t, "needs the %s controller in the cgroup v2 hierarchy at %s (%s; `make test-guest` runs it in a guest)", name, mount, CgroupMode())
	}
}

// HasCapSysNice reports whether the calling thread has CAP_SYS_NICE in
// its effective set (negative nice, RT policies).
func HasCapSysNice() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_NICE) != 0
}

// NeedCapSysNice skips t unless the calling thread has CAP_SYS_NICE.
func NeedCapSysNice(t testing.TB) {
	t.Helper()
	if !HasCapSysNice() {
		skipf(t, "needs CAP_SYS_NICE (negative nice, SCHED_FIFO/RR)")
	}
}
