package workload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/kernfs"
)

// blockGuard decides whether a block device may be used by the IO types:
// it refuses one that is not a block device, or that is mounted or used
// as swap, itself, through a partition, or through a device stacked on it,
// and one that any device is stacked on at all (a holder: device-mapper,
// md; or a loop device whose backing file is the device, which sysfs does
// not list as a holder), since writing under a stack corrupts it. It reads sysfs, mountinfo and
// /proc/swaps and stats paths; it never opens a device. The trees are
// fs.FS roots so that tests run it over fixtures, never a real device.
type blockGuard struct {
	sys  fs.FS // rooted where /sys is: dev/block/MAJ:MIN, class/block/NAME
	proc fs.FS // rooted where /proc is: self/mountinfo, swaps
	// stat returns the device number of path and whether it is a block
	// device (os.Stat's error when it cannot be stat'ed).
	stat func(path string) (dev uint64, block bool, err error)
}

// hostBlockGuard is the guard over this machine's /sys and /proc.
func hostBlockGuard() blockGuard {
	return blockGuard{sys: os.DirFS("/sys"), proc: os.DirFS("/proc"), stat: statBlock}
}

// statBlock stats a path for blockGuard.stat.
func statBlock(p string) (uint64, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Rdev), st.Mode&unix.S_IFMT == unix.S_IFBLK, nil
}

// check returns nil if the device at p may be used, else why not.
func (g blockGuard) check(p string) error {
	dev, block, err := g.stat(p)
	if err != nil {
		return fmt.Errorf("io_device = %q: %w", p, err)
	}
	if !block {
		return fmt.Errorf("io_device = %q is not a block device", p)
	}
	devs := g.related(dev)
	if where, err := g.mounted(devs); err != nil {
		return err
	} else if where != "" {
		return fmt.Errorf("io_device = %q is mounted (%s): refusing to use it", p, where)
	}
	if swap, err := g.swap(devs); err != nil {
		return err
	} else if swap != "" {
		return fmt.Errorf("io_device = %q is used as swap (%s): refusing to use it", p, swap)
	}
	if on := g.stacked(dev, devs); on != "" {
		return fmt.Errorf("io_device = %q has %s stacked on it: refusing to use it", p, on)
	}
	return nil
}

// stacked names a device of devs other than dev and its partitions: one
// stacked on the device (a holder, or a loop device backed by it), or ""
// when there is none.
func (g blockGuard) stacked(dev uint64, devs map[uint64]bool) string {
	own := map[uint64]bool{dev: true}
	dir := fmt.Sprintf("dev/block/%d:%d", unix.Major(dev), unix.Minor(dev))
	entries, _ := fs.ReadDir(g.sys, dir)
	for _, e := range entries {
		if _, err := fs.Stat(g.sys, path.Join(dir, e.Name(), "partition")); err == nil {
			if d, ok := g.devNumber(path.Join(dir, e.Name(), "dev")); ok {
				own[d] = true
			}
		}
	}
	var other []uint64
	for d := range devs {
		if !own[d] {
			other = append(other, d)
		}
	}
	if len(other) == 0 {
		return ""
	}
	names, _ := fs.ReadDir(g.sys, "class/block")
	for _, n := range names {
		if d, ok := g.devNumber(path.Join("class/block", n.Name(), "dev")); ok && devs[d] && !own[d] {
			return "/dev/" + n.Name()
		}
	}
	slices.Sort(other)
	return fmt.Sprintf("device %d:%d", unix.Major(other[0]), unix.Minor(other[0]))
}

// related returns dev, its partitions and everything stacked on them
// (holders), from sysfs.
func (g blockGuard) related(dev uint64) map[uint64]bool {
	out := map[uint64]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		d, ok := g.devNumber(path.Join(dir, "dev"))
		if !ok || out[d] {
			return
		}
		out[d] = true
		entries, _ := fs.ReadDir(g.sys, dir)
		for _, e := range entries {
			if _, err := fs.Stat(g.sys, path.Join(dir, e.Name(), "partition")); err == nil {
				walk(path.Join(dir, e.Name()))
			}
		}
		holders, _ := fs.ReadDir(g.sys, path.Join(dir, "holders"))
		for _, h := range holders {
			walk(path.Join("class/block", h.Name()))
		}
	}
	walk(fmt.Sprintf("dev/block/%d:%d", unix.Major(dev), unix.Minor(dev)))
	out[dev] = true
	// A loop device backed by one of them is stacked on it too, though
	// sysfs lists no holder for it; and so on up, until nothing changes.
	for grew := true; grew; {
		grew = false
		loops, _ := fs.ReadDir(g.sys, "class/block")
		for _, l := range loops {
			dir := path.Join("class/block", l.Name())
			b, err := fs.ReadFile(g.sys, path.Join(dir, "loop/backing_file"))
			if err != nil {
				continue
			}
			d, isLoop := g.devNumber(path.Join(dir, "dev"))
			if back, ok := g.blockDev(strings.TrimSpace(string(b))); ok && out[back] && isLoop && !out[d] {
				walk(dir)
				grew = true
			}
		}
	}
	return out
}

// devNumber reads a sysfs "MAJ:MIN" file.
func (g blockGuard) devNumber(file string) (uint64, bool) {
	b, err := fs.ReadFile(g.sys, file)
	if err != nil {
		return 0, false
	}
	return parseDevNumber(strings.TrimSpace(string(b)))
}

func parseDevNumber(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	return unix.Mkdev(uint32(a), uint32(b)), err1 == nil && err2 == nil
}

// blockDev returns the device number of p if it is an absolute path to a
// block device (mount sources such as "tmpfs" are not).
func (g blockGuard) blockDev(p string) (uint64, bool) {
	if !strings.HasPrefix(p, "/") {
		return 0, false
	}
	dev, block, err := g.stat(p)
	return dev, err == nil && block
}

// mounted returns "SOURCE on MOUNTPOINT" for the first mount whose device
// number or source is one of devs. A mountinfo it cannot parse is an
// error, so the guard refuses rather than guesses.
func (g blockGuard) mounted(devs map[uint64]bool) (string, error) {
	mounts, err := kernfs.ReadMountInfo(g.proc, "self")
	if err != nil {
		return "", fmt.Errorf("check mounts: %w", err)
	}
	for _, m := range mounts {
		src, srcOK := g.blockDev(m.Source)
		if devs[m.Dev] || (srcOK && devs[src]) {
			return fmt.Sprintf("%s on %s", m.Source, m.Point), nil
		}
	}
	return "", nil
}

// swap returns the /proc/swaps entry backed by one of devs.
func (g blockGuard) swap(devs map[uint64]bool) (string, error) {
	b, err := fs.ReadFile(g.proc, "swaps")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("check swaps: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if fields := strings.Fields(line); len(fields) > 0 {
			if d, ok := g.blockDev(fields[0]); ok && devs[d] {
				return fields[0], nil
			}
		}
	}
	return "", nil
}
