package workload

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/kernfs"
)

// fixtureMachine is a disk sda (8:0) with partitions sda1 (8:1) and sda2
// (8:2), sda2 held by dm-0 (253:0), and a second disk sdb (8:16), as sysfs
// lays them out. Device nodes are a map: the guard never stats or opens
// a real device here.
func fixtureMachine(mountinfo, swaps string) blockGuard {
	sys := fstest.MapFS{
		"dev/block/8:0/sda1/dev":          {Data: []byte("8:1\n")},
		"dev/block/8:0/sda1/partition":    {Data: []byte("1\n")},
		"dev/block/8:0/sda2/dev":          {Data: []byte("8:2\n")},
		"dev/block/8:0/sda2/partition":    {Data: []byte("2\n")},
		"dev/block/8:0/sda2/holders/dm-0": {},
	}
	proc := fstest.MapFS{"self/mountinfo": {Data: []byte(mountinfo)}}
	if swaps != "" {
		proc["swaps"] = &fstest.MapFile{Data: []byte(swaps)}
	}
	nodes := map[string]uint64{"/dev/sda1": unix.Mkdev(8, 1), "/dev/sda2": unix.Mkdev(8, 2), "/dev/mapper/vg-root": unix.Mkdev(253, 0)}
	addBlockDev(sys, nodes, "sda", 8, 0)
	addBlockDev(sys, nodes, "sdb", 8, 16)
	addBlockDev(sys, nodes, "dm-0", 253, 0)
	return fixtureGuard(sys, proc, nodes, map[string]uint64{"/dev/null": unix.Mkdev(1, 3)})
}

// addBlockDev adds a block device to fixture trees as sysfs and /dev show
// it: class/block/NAME/dev and dev/block/MAJ:MIN/dev hold its number, and
// /dev/NAME in nodes is its node.
func addBlockDev(sys fstest.MapFS, nodes map[string]uint64, name string, major, minor uint32) {
	num := []byte(fmt.Sprintf("%d:%d\n", major, minor))
	sys["class/block/"+name+"/dev"] = &fstest.MapFile{Data: num}
	sys[fmt.Sprintf("dev/block/%d:%d/dev", major, minor)] = &fstest.MapFile{Data: num}
	nodes["/dev/"+name] = unix.Mkdev(major, minor)
}

// fixtureGuard is a blockGuard over fixture sysfs and procfs trees whose
// stat finds the block device nodes in nodes and the other files (a
// character device, a loop device's backing file) in files, each path with
// its device number; any other path does not exist.
func fixtureGuard(sys, proc fstest.MapFS, nodes, files map[string]uint64) blockGuard {
	stat := func(p string) (uint64, bool, error) {
		if d, ok := nodes[p]; ok {
			return d, true, nil
		}
		if d, ok := files[p]; ok {
			return d, false, nil
		}
		return 0, false, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	return blockGuard{sys: sys, proc: proc, stat: stat}
}

const (
	// Mounts of a machine whose root is elsewhere (a virtio disk).
	mountsElsewhere = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n" +
		"23 22 0:21 / /proc rw shared:2 - proc proc rw\n"
	swapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
)

func TestBlockGuard(t *testing.T) {
	for _, tc := range []struct {
		name, dev, mountinfo, swaps string
		want                        string // "" to accept
	}{
		{"idle disk", "/dev/sdb", mountsElsewhere, swapsHeader, ""},
		{"idle disk, no /proc/swaps", "/dev/sdb", mountsElsewhere, "", ""},
		{"mounted device", "/dev/sdb", mountsElsewhere + "30 22 8:16 / /data rw - xfs /dev/sdb rw\n", swapsHeader,
			`io_device = "/dev/sdb" is mounted (/dev/sdb on /data): refusing to use it`},
		{"partition mounted", "/dev/sda", mountsElsewhere + "31 22 8:1 / /boot rw - vfat /dev/sda1 rw\n", swapsHeader,
			`io_device = "/dev/sda" is mounted (/dev/sda1 on /boot): refusing to use it`},
		{"holder mounted", "/dev/sda", mountsElsewhere + "32 22 253:0 / /srv rw - ext4 /dev/mapper/vg-root rw\n", swapsHeader,
			`io_device = "/dev/sda" is mounted (/dev/mapper/vg-root on /srv): refusing to use it`},
		// btrfs reports an anonymous device number: only the source names the disk.
		{"mounted by source only", "/dev/sdb", mountsElsewhere + "33 22 0:45 / /vol rw - btrfs /dev/sdb rw\n", swapsHeader,
			`io_device = "/dev/sdb" is mounted (/dev/sdb on /vol): refusing to use it`},
		{"partition as swap", "/dev/sda", mountsElsewhere, swapsHeader + "/dev/sda2 partition 1048572 0 -2\n",
			`io_device = "/dev/sda" is used as swap (/dev/sda2): refusing to use it`},
		{"swap file elsewhere", "/dev/sdb", mountsElsewhere, swapsHeader + "/swapfile file 1048572 0 -2\n", ""},
		{"not a block device", "/dev/null", mountsElsewhere, swapsHeader, `io_device = "/dev/null" is not a block device`},
		{"missing", "/dev/sdz", mountsElsewhere, swapsHeader, `io_device = "/dev/sdz": stat /dev/sdz: file does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCheck(t, fixtureMachine(tc.mountinfo, tc.swaps), tc.dev, tc.want) })
	}
}

// wantCheck fails t unless g.check(dev) refuses with exactly want, or
// accepts when want is "".
func wantCheck(t *testing.T, g blockGuard, dev, want string) {
	t.Helper()
	err := g.check(dev)
	if (err == nil) != (want == "") || (err != nil && err.Error() != want) {
		t.Errorf("check(%s) = %v, want %q", dev, err, want)
	}
}

// TestBlockGuardNoMountinfo fails closed: a guard that cannot read the
// mounts must refuse rather than assume the device is free.
func TestBlockGuardNoMountinfo(t *testing.T) {
	g := fixtureMachine("", "")
	g.proc = fstest.MapFS{}
	err := g.check("/dev/sdb")
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "check mounts:") {
		t.Errorf("check without mountinfo = %v, want a refusal naming the mounts", err)
	}
}

// TestBlockGuardGarbledMountinfo fails closed too: a line the mountinfo
// reader cannot parse is a refusal, not a line skipped.
func TestBlockGuardGarbledMountinfo(t *testing.T) {
	err := fixtureMachine("garbage line\n", "").check("/dev/sdb")
	if err == nil || !errors.Is(err, kernfs.ErrParse) || !strings.HasPrefix(err.Error(), "check mounts:") {
		t.Errorf("check with a garbled mountinfo = %v, want a refusal naming the mounts", err)
	}
}
