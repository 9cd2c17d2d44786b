package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/ktstar/ktstar/internal/kernfs"
)

// ErrParse is wrapped by every parse error of this package.
var ErrParse = errors.New("cgroupfs: unexpected file format")

// ParseControllers parses cgroup.controllers or cgroup.subtree_control:
// controller names separated by white space.
func ParseControllers(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// Events is the content of a group's cgroup.events.
type Events struct {
	Populated bool // the group or a descendant holds a live task
	Frozen    bool // cgroup.freeze took effect for every task
}

// ParseEvents parses cgroup.events ("populated 1\nfrozen 0\n"). Unknown
// keys are ignored so newer kernels do not break it.
func ParseEvents(r io.Reader) (Events, error) {
	var ev Events
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			if k == "" {
				continue
			}
			return Events{}, fmt.Errorf("%w: cgroup.events line %q has no value", ErrParse, sc.Text())
		}
		switch k {
		case "populated":
			ev.Populated = v == "1"
		case "frozen":
			ev.Frozen = v == "1"
		}
	}
	return ev, sc.Err()
}

// ParseProcs parses cgroup.procs or cgroup.threads: one id per line.
func ParseProcs(r io.Reader) ([]int, error) {
	var pids []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%w: pid %q in cgroup.procs", ErrParse, s)
		}
		pids = append(pids, pid)
	}
	return pids, sc.Err()
}

// ParseProcCgroup returns the cgroup v2 path ("/ktstar-12-5f3a9c01/a") from a
// /proc/PID/cgroup file: the "0::PATH" line. v1 lines of a hybrid host are
// skipped. The path is relative to the v2 mount (or the cgroup namespace).
func ParseProcCgroup(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		ctrls, p, ok := strings.Cut(rest, ":")
		if ok && id == "0" && ctrls == "" {
			return p, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: no cgroup v2 (0::) entry in /proc/PID/cgroup", ErrParse)
}

// ProcCgroup returns the cgroup v2 path of process pid (0 = the caller).
func ProcCgroup(pid int) (string, error) {
	name := "/proc/self/cgroup"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/cgroup", pid)
	}
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	p, err := ParseProcCgroup(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Mount is one cgroup v2 mount from /proc/self/mountinfo.
type Mount struct {
	Point string // where it is mounted, e.g. /sys/fs/cgroup/unified
	Root  string // the path of the hierarchy mounted there ("/" normally)
}

// ErrNoV2Mount is returned when no cgroup2 file system is mounted.
var ErrNoV2Mount = errors.New("cgroupfs: no cgroup2 file system is mounted (need a pure v2 /sys/fs/cgroup or the unified mount of a hybrid host)")

// FindMount returns the cgroup v2 mount of the calling process.
func FindMount() (Mount, error) { return findMount(kernfs.Proc) }

// findMount picks the cgroup v2 mount from proc's self/mountinfo. With
// several it prefers /sys/fs/cgroup (pure v2), then
// /sys/fs/cgroup/unified (hybrid), then the first one listed.
func findMount(proc fs.FS) (Mount, error) {
	mounts, err := kernfs.ReadMountInfo(proc, "self")
	if err != nil {
		return Mount{}, err
	}
	var found []Mount
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			found = append(found, Mount{Point: m.Point, Root: m.Root})
		}
	}
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, m := range found {
			if m.Point == want {
				return m, nil
			}
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return Mount{}, ErrNoV2Mount
}
