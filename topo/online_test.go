package topo

import (
	"errors"
	"io/fs"
	"runtime"
	"slices"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"
)

func TestOnlineReaders(t *testing.T) {
	numa := fstest.MapFS{
		"devices/system/cpu/online":         {Data: []byte("0-3,8\n")},
		"devices/system/node/online":        {Data: []byte("0-1\n")},
		"devices/system/node/node1/cpulist": {Data: []byte("2-3\n")},
		"devices/system/node/node0/cpulist": {Data: []byte("0-1,8\n")},
		"devices/system/node/node2/cpulist": {Data: []byte("bad\n")},
	}
	flat := fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0-1\n")}}
	for _, tc := range []struct {
		name string
		read func() ([]int, error)
		want []int
		err  string
	}{
		{"cpus", func() ([]int, error) { return ReadOnlineCPUs(numa) }, []int{0, 1, 2, 3, 8}, ""},
		{"nodes", func() ([]int, error) { return ReadOnlineNodes(numa) }, []int{0, 1}, ""},
		{"node 1", func() ([]int, error) { return ReadNodeCPUList(numa, 1) }, []int{2, 3}, ""},
		{"node 2 unparsable", func() ([]int, error) { return ReadNodeCPUList(numa, 2) }, nil, `read CPUs of NUMA node 2: devices/system/node/node2/cpulist: cpu list "bad": cannot parse "bad"`},
		{"node 3 absent", func() ([]int, error) { return ReadNodeCPUList(numa, 3) }, nil, "read CPUs of NUMA node 3: open devices/system/node/node3/cpulist: file does not exist"},
		// A kernel without NUMA: one node 0 holding every online CPU.
		{"no numa nodes", func() ([]int, error) { return ReadOnlineNodes(flat) }, []int{0}, ""},
		{"no numa node 0", func() ([]int, error) { return ReadNodeCPUList(flat, 0) }, []int{0, 1}, ""},
		{"no cpu list", func() ([]int, error) { return ReadOnlineCPUs(fstest.MapFS{}) }, nil, "read online CPUs: open devices/system/cpu/online: file does not exist"},
	} {
		got, err := tc.read()
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := ReadOnlineCPUs(fstest.MapFS{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing online file: %v does not wrap fs.ErrNotExist", err)
	}
}

// TestAllowedCPUs narrows this thread's mask to one CPU and back: the
// reader follows the mask, which the test sets for real.
func TestAllowedCPUs(t *testing.T) {
	online, err := OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	before, err := AllowedCPUs()
	if err != nil || len(before) == 0 || slices.ContainsFunc(before, func(c int) bool { return !slices.Contains(online, c) }) {
		t.Fatalf("AllowedCPUs = %v, %v; want a non-empty subset of the online CPUs %v", before, err, online)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	set := func(cpus []int) {
		var s unix.CPUSet
		for _, c := range cpus {
			s.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	defer set(before)
	last := before[len(before)-1]
	set([]int{last})
	if got, err := AllowedCPUs(); err != nil || !slices.Equal(got, []int{last}) {
		t.Errorf("pinned to CPU %d: AllowedCPUs = %v, %v", last, got, err)
	}
}
