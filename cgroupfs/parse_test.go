package cgroupfs

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
)

// fixtures is the testdata tree: files copied from this host (hybrid) and
// written by hand for hosts the tests cannot run on (pure v2).
var fixtures fs.FS = os.DirFS("testdata")

func open(t *testing.T, name string) fs.File {
	t.Helper()
	f, err := fixtures.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFindMount(t *testing.T) {
	for _, tc := range []struct {
		tree string // a /proc fixture of internal/kernfs
		want Mount
		err  error
	}{
		{"hybrid", Mount{Point: "/sys/fs/cgroup/unified", Root: "/"}, nil},
		{"v2", Mount{Point: "/sys/fs/cgroup", Root: "/"}, nil},
		{"escaped", Mount{Point: "/mnt/my cgroups", Root: "/sub"}, nil},
		{"v1only", Mount{}, ErrNoV2Mount},
	} {
		got, err := findMount(os.DirFS("../internal/kernfs/testdata/" + tc.tree))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.tree, got, err, tc.want, tc.err)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"proc-cgroup-hybrid", "/"},
		{"proc-cgroup-v2", "/user.slice/user-1000.slice/session-2.scope"},
	} {
		got, err := ParseProcCgroup(open(t, tc.file))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.file, got, err, tc.want)
		}
	}
}

func TestParseEventsAndControllers(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Events
	}{
		{"events-populated", Events{Populated: true}},
		{"events-frozen", Events{Frozen: true}},
	} {
		got, err := ParseEvents(open(t, tc.file))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.file, got, err, tc.want)
		}
	}
	got, err := ParseControllers(open(t, "controllers-v2"))
	want := []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("controllers: got %v, %v; want %v", got, err, want)
	}
	if got, _ := ParseControllers(strings.NewReader("\n")); len(got) != 0 {
		t.Errorf("empty controllers: got %v", got)
	}
}

func TestParseProcs(t *testing.T) {
	got, err := ParseProcs(strings.NewReader("12\n345\n\n"))
	if err != nil || !slices.Equal(got, []int{12, 345}) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"a/b", true}, {"cg_0", true}, {"x.y", true},
		{"", false}, {"/a", false}, {"a//b", false}, {"a/", false}, {".", false},
		{"..", false}, {"a/../b", false}, {".hidden", false}, {"a\x00b", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q): %v does not wrap ErrInvalidName", tc.name, err)
		}
	}
}

func TestBeneath(t *testing.T) {
	for _, tc := range []struct{ rel, want string }{
		{"/a/b", "/m/a/b"}, {"a", "/m/a"}, {"../../etc", "/m/etc"}, {"/", "/m"}, {"a/../../x", "/m/x"},
	} {
		if got := beneath("/m", tc.rel); got != tc.want {
			t.Errorf("beneath(/m, %q) = %q, want %q", tc.rel, got, tc.want)
		}
	}
}
