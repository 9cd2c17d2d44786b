package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/vm"
)

func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":         "^TestA$",
		"TestA/sub_1":   "^TestA$/^sub_1$",
		"TestA/x.y(z)":  `^TestA$/^x\.y\(z\)$`,
		"TestA/b/c+d*e": `^TestA$/^b$/^c\+d\*e$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestGuestShape runs inside a 4-vCPU, 2-node guest with a scratch disk
// and checks the guest from the inside.
func TestGuestShape(t *testing.T) {
	if OnHost(t, vm.Options{CPUs: 4, NUMA: 2, SMT: 2, Disk: 32 << 20}) {
		return
	}
	count := func(pattern string) int {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	if n := count("/sys/devices/system/cpu/cpu[0-9]*"); n != 4 {
		t.Errorf("%d CPUs, want 4", n)
	}
	if n := count("/sys/devices/system/node/node[0-9]*"); n != 2 {
		t.Errorf("%d NUMA nodes, want 2", n)
	}
	sib, err := os.ReadFile("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
	if err != nil || strings.TrimSpace(string(sib)) != "0-1" {
		t.Errorf("cpu0 siblings %q, %v; want 0-1", sib, err)
	}
	ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if err != nil || !strings.Contains(string(ctrl), "cpuset") {
		t.Errorf("root subtree_control %q, %v; want cpuset enabled", ctrl, err)
	}
	if _, err := os.Stat("/dev/vda"); err != nil {
		t.Errorf("scratch disk: %v", err)
	}
	if os.Getppid() != 1 {
		t.Errorf("parent pid %d, want 1 (the guest init)", os.Getppid())
	}
}
