package cgroupfs

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/owner"
)

// RunPrefix starts the name of every run's parent group:
// ktstar-<pid>-<run id>.
const RunPrefix = "ktstar-"

// ownerXattr records the owner.ID of the process that created a run
// group. cgroupfs has no regular files, but it has trusted.* xattrs.
const ownerXattr = "trusted.ktstar.owner"

// NewRun creates the run's parent group ktstar-<pid>-<run id> below m
// (normally the mount root) and records the calling process as its owner
// (owner.ID: boot, pid namespace, pid, start time, run id), so that Sweep
// in a later run, in this pid namespace or another, can tell whether the
// group is stale. The random run id keeps runs in different pid
// namespaces, which may share a pid, apart.
func (m *Manager) NewRun() (*Manager, error) {
	for range 4 {
		self, err := owner.Self()
		if err != nil {
			return nil, fmt.Errorf("cgroupfs: new run group: %w", err)
		}
		g := &Manager{mount: m.mount, group: path.Join(m.group, RunPrefix+strconv.Itoa(self.Pid)+"-"+self.Run)}
		if err := unix.Mkdir(g.Path(), 0o755); err == unix.EEXIST {
			continue // another namespace's run drew the same pid and id
		} else if err != nil {
			return nil, fmt.Errorf("cgroupfs: create %s: %w", g.Path(), err)
		}
		if err := g.setOwner(self); err != nil {
			g.Delete()
			return nil, err
		}
		return g, nil
	}
	return nil, fmt.Errorf("cgroupfs: new run group below %s: every name drawn exists", m.Path())
}

func (m *Manager) setOwner(o owner.ID) error {
	v := o.String()
	if err := unix.Setxattr(m.Path(), ownerXattr, []byte(v), 0); err != nil {
		return fmt.Errorf("cgroupfs: record owner %q of %s in xattr %s: %w", v, m.Path(), ownerXattr, err)
	}
	return nil
}

// owner reads the recorded owner; ok is false when there is none that
// this version can read.
func (m *Manager) owner() (o owner.ID, ok bool) {
	buf := make([]byte, 128)
	n, err := unix.Getxattr(m.Path(), ownerXattr, buf)
	if err != nil {
		return owner.ID{}, false
	}
	o, err = owner.Parse(string(buf[:n]))
	return o, err == nil
}

// Sweep destroys the run groups (ktstar-*) directly below m whose owner
// is provably gone (owner.ID.Gone) and which hold no process. A group
// whose owner cannot be checked (none recorded, another pid namespace)
// or that still holds processes is kept: sweeping a live run's group
// would kill its workers. It returns the directories it removed;
// failures to remove one group do not stop the others.
func (m *Manager) Sweep() (removed []string, err error) {
	kids, err := m.Children()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, k := range kids {
		if !strings.HasPrefix(k, RunPrefix) {
			continue
		}
		g := &Manager{mount: m.mount, group: path.Join(m.group, k)}
		if o, ok := g.owner(); !ok || !o.Gone() {
			continue
		}
		if ev, err := g.Events(); err != nil || ev.Populated {
			continue
		}
		if err := g.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("sweep stale run group: %w", err))
			continue
		}
		removed = append(removed, g.Path())
	}
	return removed, errors.Join(errs...)
}
