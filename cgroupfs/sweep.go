package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// RunPrefix starts the name of every run's parent group: ktstar-<pid>.
const RunPrefix = "ktstar-"

// ownerXattr records "<pid> <start time>" of the process that created a
// run group. A pid alone is not enough: after a SIGKILL the pid can be
// reused by an unrelated process, which would keep the stale group alive
// forever. cgroupfs has no regular files, but it has trusted.* xattrs.
const ownerXattr = "trusted.ktstar.owner"

// Owner identifies a process across pid reuse.
type Owner struct {
	Pid   int
	Start uint64 // start time in clock ticks since boot (/proc/PID/stat field 22)
}

// NewRun creates the run's parent group ktstar-<pid> below m (normally
// the mount root) and records the calling process as its owner, so that
// Sweep in a later run can tell whether the group is stale. A group of
// that name left by an earlier process with the same pid is destroyed
// first.
func (m *Manager) NewRun() (*Manager, error) {
	self, err := procOwner(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("cgroupfs: new run group: %w", err)
	}
	name := RunPrefix + strconv.Itoa(self.Pid)
	if old, err := m.Child(name); err == nil {
		if o, ok := old.owner(); ok && o == self {
			return old, nil
		}
		if err := old.Destroy(); err != nil {
			return nil, fmt.Errorf("cgroupfs: remove stale %s before reuse: %w", old.Path(), err)
		}
	}
	g, err := m.NewChild(name)
	if err != nil {
		return nil, err
	}
	if err := g.setOwner(self); err != nil {
		g.Delete()
		return nil, err
	}
	return g, nil
}

func (m *Manager) setOwner(o Owner) error {
	v := fmt.Sprintf("%d %d", o.Pid, o.Start)
	if err := unix.Setxattr(m.Path(), ownerXattr, []byte(v), 0); err != nil {
		return fmt.Errorf("cgroupfs: record owner %q of %s in xattr %s: %w", v, m.Path(), ownerXattr, err)
	}
	return nil
}

// owner reads the recorded owner; ok is false when there is none.
func (m *Manager) owner() (o Owner, ok bool) {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(m.Path(), ownerXattr, buf)
	if err != nil {
		return Owner{}, false
	}
	if _, err := fmt.Sscanf(string(buf[:n]), "%d %d", &o.Pid, &o.Start); err != nil {
		return Owner{}, false
	}
	return o, true
}

// Sweep destroys the run groups (ktstar-<pid>) directly below m whose
// owner is gone: no process with that pid, a zombie, or a process with a
// different start time than the one recorded (the pid was reused). A
// group without a recorded owner is kept while its pid is alive. Tasks
// still inside a stale group are killed. It returns the directories it
// removed; failures to remove one group do not stop the others.
func (m *Manager) Sweep() (removed []string, err error) {
	kids, err := m.Children()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, k := range kids {
		pid, perr := strconv.Atoi(strings.TrimPrefix(k, RunPrefix))
		if !strings.HasPrefix(k, RunPrefix) || perr != nil || pid <= 0 {
			continue
		}
		g := &Manager{mount: m.mount, group: path.Join(m.group, k)}
		if g.ownerAlive(pid) {
			continue
		}
		if err := g.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("sweep stale run group: %w", err))
			continue
		}
		removed = append(removed, g.Path())
	}
	return removed, errors.Join(errs...)
}

// ownerAlive reports whether the process that created run group g (named
// after pid) still runs. Only a definite "gone" counts as dead.
func (g *Manager) ownerAlive(pid int) bool {
	live, err := procOwner(pid)
	if errors.Is(err, os.ErrNotExist) {
		return false
	} else if err != nil {
		return true
	}
	rec, ok := g.owner()
	return !ok || rec == live
}

// procOwner reads pid's identity from /proc/PID/stat. A zombie or dead
// task counts as gone (os.ErrNotExist).
func procOwner(pid int) (Owner, error) {
	proc, err := procfs.NewDefaultFS()
	if err != nil {
		return Owner{}, err
	}
	return procOwnerIn(proc, pid)
}

// procOwnerIn is procOwner over a /proc tree. prometheus/procfs parses
// stat correctly: comm may hold spaces and parentheses.
func procOwnerIn(proc procfs.FS, pid int) (Owner, error) {
	p, err := proc.Proc(pid)
	if err != nil {
		return Owner{}, err
	}
	st, err := p.Stat()
	if err != nil {
		return Owner{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	switch st.State {
	case "Z", "X", "x":
		return Owner{}, fmt.Errorf("pid %d is a zombie: %w", pid, os.ErrNotExist)
	}
	return Owner{Pid: pid, Start: st.Starttime}, nil
}
