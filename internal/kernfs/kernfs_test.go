package kernfs

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fixture is a /proc fixture tree from testdata.
func fixture(name string) fs.FS { return os.DirFS("testdata/" + name) }

func TestReadMountInfo(t *testing.T) {
	for _, tc := range []struct {
		tree  string
		point string // a mount the tree has
		want  Mount
	}{
		{"hybrid", "/sys/fs/cgroup/unified", Mount{Dev: unix.Mkdev(0, 38), Root: "/", Point: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2"}},
		{"hybrid", "/", Mount{Dev: unix.Mkdev(254, 0), Root: "/", Point: "/", FSType: "ext4", Source: "/dev/vda"}},
		{"escaped", "/mnt/my cgroups", Mount{Dev: unix.Mkdev(0, 40), Root: "/sub", Point: "/mnt/my cgroups", FSType: "cgroup2", Source: "none"}},
	} {
		mounts, err := ReadMountInfo(fixture(tc.tree), "self")
		if err != nil {
			t.Fatalf("%s: %v", tc.tree, err)
		}
		i := slices.IndexFunc(mounts, func(m Mount) bool { return m.Point == tc.point })
		if i < 0 || mounts[i] != tc.want {
			t.Errorf("%s: mount at %s = %+v, want %+v", tc.tree, tc.point, mounts[i:i+1], tc.want)
		}
	}
	for _, bad := range []string{"garbage line", "1 2 x:y / / rw - ext4 /dev/x rw"} {
		if _, err := ParseMountInfo(strings.NewReader(bad + "\n")); !errors.Is(err, ErrParse) {
			t.Errorf("%q: err = %v, want ErrParse", bad, err)
		}
	}
	// This process's own file parses, and names its root mount.
	mounts, err := ReadMountInfo(Proc, "self")
	if err != nil || !slices.ContainsFunc(mounts, func(m Mount) bool { return m.Point == "/" }) {
		t.Errorf("/proc/self/mountinfo: %d mounts, %v; want one at /", len(mounts), err)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `tab\011`: "tab\t", `back\134slash`: `back\slash`, `short\04`: `short\04`, `not\999`: `not\999`, "plain": "plain"} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadSchedstat(t *testing.T) {
	ss, err := ReadSchedstat(fixture("worker"), 4242)
	if err != nil || ss != (Schedstat{CPUTimeNs: 123456789, RunDelayNs: 987654, RunCount: 42}) {
		t.Errorf("schedstat: %+v %v", ss, err)
	}
	if _, err := ParseSchedstat(strings.NewReader("")); !errors.Is(err, ErrParse) {
		t.Errorf("empty schedstat: err = %v, want ErrParse", err)
	}
	if ss, err := ReadSchedstat(Proc, unix.Gettid()); err != nil || ss.RunCount == 0 {
		t.Errorf("this thread's schedstat: %+v, %v; want it scheduled in at least once", ss, err)
	}
}

func TestReadNumaMaps(t *testing.T) {
	mappings, err := ReadNumaMaps(fixture("worker"), "self")
	if err != nil || len(mappings) != 5 {
		t.Fatalf("numa_maps: %d mappings, %v; want 5 (the garbage line skipped)", len(mappings), err)
	}
	if m := mappings[2]; m.Addr != 0x7f0000000000 || m.Policy != "bind:1" || !maps.Equal(m.Pages, map[int]uint64{1: 512}) {
		t.Errorf("third mapping = %+v", m)
	}
	if got := SumPages(mappings, nil); !maps.Equal(got, map[int]uint64{0: 295, 1: 532}) {
		t.Errorf("all pages = %v", got)
	}
	bound := SumPages(mappings, func(m NumaMapping) bool { return strings.HasPrefix(m.Policy, "bind:") })
	if !maps.Equal(bound, map[int]uint64{1: 512}) {
		t.Errorf("bound pages = %v", bound)
	}
}

func TestReadVmstat(t *testing.T) {
	v, err := ReadVmstat(fixture("worker"))
	if err != nil || v["numa_pages_migrated"] != 4242 || v["numa_pages_migrated_extra"] != 7 {
		t.Errorf("vmstat: %v %v; want numa_pages_migrated 4242", v, err)
	}
	if _, err := ParseVmstat(strings.NewReader("numa_hit x\n")); !errors.Is(err, ErrParse) {
		t.Errorf("bad value: err = %v, want ErrParse", err)
	}
	if v, err := ReadVmstat(Proc); err != nil || len(v) == 0 {
		t.Errorf("/proc/vmstat: %d counters, %v", len(v), err)
	}
}
