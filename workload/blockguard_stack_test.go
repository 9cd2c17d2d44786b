package workload

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/testenv"
)

// stackMachine is a machine with stacked devices, as sysfs lays them out:
// a chain of loop devices loop2 → loop1 → loop0 (each backed by the
// next; loop devices list no holders), loop0 backed by a plain file; an
// idle pair loop6 → loop7; a disk sdc under md0 under dm-1; and a disk
// sdd under dm-2.
func stackMachine(mountinfo string) blockGuard {
	sys := fstest.MapFS{
		"dev/block/8:32/holders/md0":   {},
		"dev/block/8:48/holders/dm-2":  {},
		"class/block/md0/holders/dm-1": {},
	}
	nodes := map[string]uint64{"/dev/mapper/x": unix.Mkdev(253, 1)}
	for _, d := range []struct {
		name         string
		major, minor uint32
		backing      string // a loop device's backing file
	}{
		{"sdc", 8, 32, ""}, {"sdd", 8, 48, ""}, {"md0", 9, 0, ""}, {"dm-1", 253, 1, ""}, {"dm-2", 253, 2, ""},
		{"loop0", 7, 0, "/img"}, {"loop1", 7, 1, "/dev/loop0"}, {"loop2", 7, 2, "/dev/loop1"},
		{"loop6", 7, 6, "/dev/loop7"}, {"loop7", 7, 7, "/img7"},
	} {
		addBlockDev(sys, nodes, d.name, d.major, d.minor)
		if d.backing != "" {
			sys["class/block/"+d.name+"/loop/backing_file"] = &fstest.MapFile{Data: []byte(d.backing + "\n")}
		}
	}
	proc := fstest.MapFS{"self/mountinfo": {Data: []byte(mountsElsewhere + mountinfo)}}
	return fixtureGuard(sys, proc, nodes, map[string]uint64{"/img": 0, "/img7": 0})
}

// TestBlockGuardStacks: a device under a stack is refused when anything
// up the stack is mounted, and when anything is stacked on it at all:
// holders recursively, and loop devices backed by it, which sysfs does
// not list as holders.
func TestBlockGuardStacks(t *testing.T) {
	const loopMounted = "40 22 7:2 / /mnt rw - ext4 /dev/loop2 rw\n"
	const dmMounted = "41 22 253:1 / /srv rw - xfs /dev/mapper/x rw\n"
	for _, tc := range []struct {
		name, dev, mountinfo, want string
	}{
		{"loop backing a mounted loop, two levels down", "/dev/loop0", loopMounted, `io_device = "/dev/loop0" is mounted (/dev/loop2 on /mnt): refusing to use it`},
		{"loop backing a loop", "/dev/loop0", "", `io_device = "/dev/loop0" has /dev/loop1 stacked on it: refusing to use it`},
		{"top of an idle loop stack", "/dev/loop2", "", ""},
		{"loop backing an idle loop", "/dev/loop7", "", `io_device = "/dev/loop7" has /dev/loop6 stacked on it: refusing to use it`},
		{"disk under md under a mounted dm", "/dev/sdc", dmMounted, `io_device = "/dev/sdc" is mounted (/dev/mapper/x on /srv): refusing to use it`},
		{"disk under md under dm", "/dev/sdc", "", `io_device = "/dev/sdc" has /dev/dm-1 stacked on it: refusing to use it`},
		{"disk under an unmounted dm", "/dev/sdd", "", `io_device = "/dev/sdd" has /dev/dm-2 stacked on it: refusing to use it`},
		{"the dm itself, unmounted", "/dev/dm-2", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCheck(t, stackMachine(tc.mountinfo), tc.dev, tc.want) })
	}
}

// losetup attaches a loop device to backing (a file or a device) and
// detaches it when the test ends.
func losetup(t *testing.T, backing string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("cannot make a loop device (losetup --find --show %s): %v: %s", backing, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// TestBlockGuardRealLoopStack stacks real loop devices made for the test
// (never a real disk): a loop device backed by another. The lower one is
// refused, the upper one is free; the IO type's validation says so too.
func TestBlockGuardRealLoopStack(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("no losetup to make loop devices")
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	lower := losetup(t, img)
	upper := losetup(t, lower)
	if err := hostBlockGuard().check(lower); err == nil || !strings.Contains(err.Error(), "has "+upper+" stacked on it") {
		t.Errorf("check(%s) under %s = %v, want a refusal naming %s", lower, upper, err, upper)
	}
	if err := hostBlockGuard().check(upper); err != nil {
		t.Errorf("check(%s), nothing on top = %v, want nil", upper, err)
	}
	// Spawn's preflight refuses before any worker exists.
	_, err := Spawn(Config{Workers: 1, Work: MustWork("IoSyncWrite", map[string]any{"io_device": lower, "allow_destructive": true})})
	if err == nil || !strings.Contains(err.Error(), "stacked on it") {
		t.Errorf("spawn IoSyncWrite on %s = %v, want the refusal", lower, err)
	}
}
