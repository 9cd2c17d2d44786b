// Package cgroupfs manages cgroup v2 groups for ktstar runs: one parent
// group per run (ktstar-<pid>-<run id>) with children under it, controllers,
// cpusets, task moves, a directory fd for clone-into-cgroup, freeze, kill,
// removal and a sweep of groups left behind by runs that died.
//
// It follows containerd's cgroup2 Manager (NewChild, AddProc, Kill,
// Delete) and runc's fs2 retry rules. Every file access goes through one
// read and one write helper that stay beneath the v2 mount and put the
// file and the data in their errors.
//
// Typical use:
//
//	root, err := cgroupfs.Default()      // the v2 mount, pure or hybrid
//	root.Sweep()                         // groups of dead runs
//	run, err := root.NewRun()            // ktstar-<pid>-<run id>
//	defer run.Destroy()
//	a, err := run.NewChild("a")
//	err = a.SetCpus([]int{0, 1})         // needs the cpuset controller
//	dir, err := a.OpenDir()              // for SysProcAttr.CgroupFD
//
// The package does not import workload; workload uses it.
package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/cpulist"
)

// Retry rules (runc fs2 and ktstr's cgroup manager).
const (
	einvalTries = 5                      // cgroup.procs EINVAL: task still in TASK_NEW
	einvalSleep = 30 * time.Millisecond  //
	ebusyTries  = 3                      // cgroup.procs EBUSY
	ebusySleep  = 100 * time.Millisecond //
	rmdirTries  = 6                      // rmdir EBUSY, sleeping 10 ms doubling
	rmdirSleep  = 10 * time.Millisecond  //
	settleLimit = 5 * time.Second        // freeze, kill: wait for cgroup.events
)

// ErrInvalidName is wrapped by the error for a group name that could leave
// the parent or is not a plain relative path.
var ErrInvalidName = errors.New("cgroupfs: invalid group name")

// ErrRootGroup is returned by destructive operations on the mount root.
var ErrRootGroup = errors.New("cgroupfs: refusing to modify the root of the hierarchy")

// Manager is one cgroup v2 group. It is a small value (mount point and
// path); copies refer to the same group. Methods are safe for concurrent
// use, since each is a short sequence of file operations.
type Manager struct {
	mount string // the v2 mount point, e.g. /sys/fs/cgroup/unified
	group string // the group's path beneath it, "/" for the root, else "/a/b"
}

// Default returns the root group of the calling process's cgroup v2 mount:
// /sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one.
func Default() (*Manager, error) {
	m, err := FindMount()
	if err != nil {
		return nil, err
	}
	return Load(m.Point, "/")
}

// Load returns the existing group at group (a path such as "/ktstar-12-5f3a9c01/a",
// cleaned and confined beneath mount) of the v2 hierarchy mounted at mount.
func Load(mount, group string) (*Manager, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil {
		return nil, fmt.Errorf("cgroupfs: statfs %s: %w", mount, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("cgroupfs: %s is not a cgroup2 mount (file system magic %#x)", mount, st.Type)
	}
	m := &Manager{mount: path.Clean(mount), group: path.Clean("/" + group)}
	if fi, err := os.Stat(m.Path()); err != nil {
		return nil, fmt.Errorf("cgroupfs: load %s: %w", m.Path(), err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("cgroupfs: load %s: not a directory", m.Path())
	}
	return m, nil
}

// Mount returns the mount point of the hierarchy.
func (m *Manager) Mount() string { return m.mount }

// Group returns the group's path beneath the mount, as /proc/PID/cgroup
// shows it ("/ktstar-12-5f3a9c01/a"; "/" for the root).
func (m *Manager) Group() string { return m.group }

// Path returns the group's absolute directory.
func (m *Manager) Path() string { return beneath(m.mount, m.group) }

// String returns the group's absolute directory.
func (m *Manager) String() string { return m.Path() }

func (m *Manager) isRoot() bool { return m.group == "/" }

func (m *Manager) read(file string) (string, error) { return readFile(m.mount, m.group, file) }

// ReadFile returns the contents of one of the group's interface files
// (memory.events, pids.events, cpu.stat, …); name may not contain "/".
func (m *Manager) ReadFile(name string) (string, error) {
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return "", fmt.Errorf("cgroupfs: %q is not an interface file name (e.g. memory.events)", name)
	}
	return m.read(name)
}

func (m *Manager) write(file, data string) error { return writeFile(m.mount, m.group, file, data) }

// ValidateName checks a child group name: a relative path whose
// components are non-empty, do not start with "." (which also excludes
// "." and ".."), and contain no NUL. "a/b" nests.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidName)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("%w: %q starts with /; names are relative to the parent group", ErrInvalidName, name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: %q contains a NUL byte", ErrInvalidName, name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" {
			return fmt.Errorf("%w: %q has an empty component", ErrInvalidName, name)
		}
		if strings.HasPrefix(c, ".") {
			return fmt.Errorf("%w: %q has a component %q starting with \".\"", ErrInvalidName, name, c)
		}
	}
	return nil
}

// NewChild creates the group name (nested names such as "a/b" create the
// intermediate groups) below m and returns it. An existing group is
// returned as is. If creation fails half-way, directories it made are
// removed again.
func (m *Manager) NewChild(name string) (_ *Manager, err error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var made []string
	defer func() {
		if err != nil {
			for _, d := range slices.Backward(made) {
				unix.Rmdir(d)
			}
		}
	}()
	cur := m.group
	for _, c := range strings.Split(name, "/") {
		cur = path.Join(cur, c)
		dir := beneath(m.mount, cur)
		if err := unix.Mkdir(dir, 0o755); err == nil {
			made = append(made, dir)
		} else if err != unix.EEXIST {
			return nil, fmt.Errorf("cgroupfs: create %s: %w", dir, err)
		}
	}
	return &Manager{mount: m.mount, group: cur}, nil
}

// Child returns the existing group name below m.
func (m *Manager) Child(name string) (*Manager, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return Load(m.mount, path.Join(m.group, name))
}

// Parent returns the group above m; the root is its own parent.
func (m *Manager) Parent() *Manager {
	return &Manager{mount: m.mount, group: path.Dir(m.group)}
}

// Children lists the names of the groups directly below m, sorted.
func (m *Manager) Children() ([]string, error) {
	ents, err := os.ReadDir(m.Path())
	if err != nil {
		return nil, fmt.Errorf("cgroupfs: list children of %s: %w", m.Path(), err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Events reads the group's cgroup.events.
func (m *Manager) Events() (Events, error) {
	s, err := m.read("cgroup.events")
	if err != nil {
		return Events{}, err
	}
	return ParseEvents(strings.NewReader(s))
}

// Procs returns the process ids in the group (cgroup.procs), and with
// recursive also those of every descendant.
func (m *Manager) Procs(recursive bool) ([]int, error) {
	s, err := m.read("cgroup.procs")
	if err != nil {
		return nil, err
	}
	pids, err := ParseProcs(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path(), err)
	}
	if !recursive {
		return pids, nil
	}
	kids, err := m.Children()
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		sub, err := (&Manager{mount: m.mount, group: path.Join(m.group, k)}).Procs(true)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
		pids = append(pids, sub...)
	}
	return pids, nil
}

// AddProc moves process pid (all its threads) into the group by writing
// cgroup.procs. Like runc it retries EINVAL 5 times 30 ms apart (a task
// still being forked cannot move yet) and EBUSY 3 times 100 ms apart. A
// group with controllers in its cgroup.subtree_control cannot hold
// processes (the no-internal-process rule); that EBUSY is explained in
// the error.
func (m *Manager) AddProc(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("cgroupfs: move pid %d into %s: not a process id", pid, m.Path())
	}
	data := strconv.Itoa(pid)
	var err error
	einval, ebusy := 0, 0
	for {
		err = m.write("cgroup.procs", data)
		switch {
		case errors.Is(err, unix.EINVAL) && einval < einvalTries-1:
			einval++
			time.Sleep(einvalSleep)
		case errors.Is(err, unix.EBUSY) && ebusy < ebusyTries-1:
			ebusy++
			time.Sleep(ebusySleep)
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("%w (a group with controllers enabled in cgroup.subtree_control cannot hold processes)", err)
		default:
			return err
		}
	}
}

// AddProcs moves every pid into the group. A process that is gone
// (ESRCH) is skipped and returned in gone; any other failure stops and is
// returned with the pids not yet moved left where they were.
func (m *Manager) AddProcs(pids []int) (gone []int, err error) {
	for _, pid := range pids {
		if err := m.AddProc(pid); errors.Is(err, unix.ESRCH) {
			gone = append(gone, pid)
		} else if err != nil {
			return gone, err
		}
	}
	return gone, nil
}

// OpenDir opens the group directory O_PATH|O_DIRECTORY|O_CLOEXEC for
// clone3's CLONE_INTO_CGROUP (exec: SysProcAttr{UseCgroupFD: true,
// CgroupFD: int(f.Fd())}; kernel 5.7+, cgroup v2 only). The caller closes
// it. When the start fails with it, the documented fallback (runc's) is to
// start the process without it and then AddProc the pid before it does
// any work.
func (m *Manager) OpenDir() (*os.File, error) {
	f, err := openBeneath(m.mount, m.group, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, fmt.Errorf("cgroupfs: open %s: %w", m.Path(), err)
	}
	return f, nil
}

// Freeze freezes every task of the group and its descendants and waits
// until cgroup.events reports "frozen 1".
func (m *Manager) Freeze() error { return m.setFrozen(true) }

// Thaw undoes Freeze and waits until cgroup.events reports "frozen 0".
func (m *Manager) Thaw() error { return m.setFrozen(false) }

func (m *Manager) setFrozen(frozen bool) error {
	if m.isRoot() {
		return ErrRootGroup
	}
	v := "0"
	if frozen {
		v = "1"
	}
	if err := m.write("cgroup.freeze", v); err != nil {
		return err
	}
	return m.waitEvents(func(ev Events) bool { return ev.Frozen == frozen }, "frozen "+v)
}

// waitEvents polls cgroup.events until cond holds, for up to 5 s.
func (m *Manager) waitEvents(cond func(Events) bool, what string) error {
	deadline := time.Now().Add(settleLimit)
	sleep := time.Millisecond
	for {
		ev, err := m.Events()
		if err != nil {
			return err
		}
		if cond(ev) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroupfs: %s: cgroup.events did not show %q within %v (now %+v)", m.Path(), what, settleLimit, ev)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 20*time.Millisecond)
	}
}

// Kill SIGKILLs every task of the group and its descendants and waits
// until the group is no longer populated. It writes cgroup.kill (kernel
// 5.14+); without it, it freezes the group, SIGKILLs each pid and thaws
// (a frozen task cannot fork a new one in between). Killed children of
// the caller become zombies that the caller still reaps; they no longer
// populate the group.
func (m *Manager) Kill() error {
	if m.isRoot() {
		return ErrRootGroup
	}
	if _, err := os.Stat(path.Join(m.Path(), "cgroup.kill")); err == nil {
		if err := m.write("cgroup.kill", "1"); err != nil {
			return err
		}
	} else if err := m.killEach(); err != nil {
		return err
	}
	return m.waitEvents(func(ev Events) bool { return !ev.Populated }, "populated 0")
}

// killEach is Kill's fallback for kernels without cgroup.kill.
func (m *Manager) killEach() error {
	if err := m.Freeze(); err != nil {
		return fmt.Errorf("cgroupfs: kill %s: %w", m.Path(), err)
	}
	pids, err := m.Procs(true)
	for _, pid := range pids {
		if kerr := unix.Kill(pid, unix.SIGKILL); kerr != nil && kerr != unix.ESRCH && err == nil {
			err = fmt.Errorf("cgroupfs: kill pid %d in %s: %w", pid, m.Path(), kerr)
		}
	}
	return errors.Join(err, m.Thaw())
}

// Delete removes the group and every group below it, children first. It
// retries rmdir on EBUSY with a doubling sleep (10 ms, 6 tries), since a
// task that just exited may still be leaving. A group that still holds
// live tasks is not removed; the error says so (use Destroy to kill them).
// A group that is already gone is not an error.
func (m *Manager) Delete() error {
	if m.isRoot() {
		return ErrRootGroup
	}
	kids, err := m.Children()
	if errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, k := range kids {
		errs = append(errs, (&Manager{mount: m.mount, group: path.Join(m.group, k)}).Delete())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sleep := rmdirSleep
	for i := 0; ; i++ {
		err := unix.Rmdir(m.Path())
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || i == rmdirTries-1 {
			msg := fmt.Sprintf("cgroupfs: remove %s: %v", m.Path(), err)
			if pids, perr := m.Procs(false); perr == nil && len(pids) > 0 {
				msg += fmt.Sprintf(" (it still holds processes %v; Destroy kills them)", pids)
			}
			return fmt.Errorf("%s: %w", msg, err)
		}
		time.Sleep(sleep)
		sleep *= 2
	}
}

// Destroy kills every task in the group and below (thawing first, since
// a frozen task cannot die to a cooperative stop) and removes the groups.
// It is what cleanup paths call. A group that is already gone is not an
// error.
func (m *Manager) Destroy() error {
	if m.isRoot() {
		return ErrRootGroup
	}
	if _, err := os.Stat(m.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := m.Kill(); err != nil {
		return err
	}
	return m.Delete()
}

// SetCpus writes cpuset.cpus (e.g. "0-3,5"). It needs the cpuset
// controller enabled for the group (EnableControllers("cpuset") on its
// parent); otherwise the error says whether the host lacks it in v2 (a
// hybrid host whose v1 hierarchy owns cpuset) or it is only not enabled.
func (m *Manager) SetCpus(cpus []int) error {
	return m.writeCpuset("cpuset.cpus", cpulist.Format(cpus))
}

// ClearCpus writes an empty cpuset.cpus: the group uses its parent's CPUs.
func (m *Manager) ClearCpus() error { return m.writeCpuset("cpuset.cpus", "") }

// Cpus reads cpuset.cpus; empty means "the parent's".
func (m *Manager) Cpus() ([]int, error) { return m.readCpuset("cpuset.cpus") }

// EffectiveCpus reads cpuset.cpus.effective, the CPUs the group's tasks
// may really use.
func (m *Manager) EffectiveCpus() ([]int, error) { return m.readCpuset("cpuset.cpus.effective") }

// SetMems writes cpuset.mems (NUMA node ids). Write it before moving tasks
// in: their existing pages are not migrated by default.
func (m *Manager) SetMems(nodes []int) error {
	return m.writeCpuset("cpuset.mems", cpulist.Format(nodes))
}

// ClearMems writes an empty cpuset.mems: the group uses its parent's nodes.
func (m *Manager) ClearMems() error { return m.writeCpuset("cpuset.mems", "") }

// Mems reads cpuset.mems; empty means "the parent's".
func (m *Manager) Mems() ([]int, error) { return m.readCpuset("cpuset.mems") }

func (m *Manager) writeCpuset(file, data string) error {
	if err := m.requireController("cpuset"); err != nil {
		return fmt.Errorf("write %s %q in %s: %w", file, data, m.Path(), err)
	}
	return m.write(file, data)
}

func (m *Manager) readCpuset(file string) ([]int, error) {
	if err := m.requireController("cpuset"); err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", file, m.Path(), err)
	}
	s, err := m.read(file)
	if err != nil {
		return nil, err
	}
	ids, err := cpulist.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", file, m.Path(), err)
	}
	return ids, nil
}
