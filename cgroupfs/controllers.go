package cgroupfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Controller errors, wrapped by ControllerError.
var (
	// ErrControllerUnavailable: the v2 hierarchy does not have the
	// controller at all (its root's cgroup.controllers does not list it),
	// e.g. cpuset on a hybrid host whose v1 hierarchy owns it.
	ErrControllerUnavailable = errors.New("not available in the cgroup v2 hierarchy")
	// ErrControllerNotEnabled: the hierarchy has it, but the group's
	// parent has not enabled it in cgroup.subtree_control.
	ErrControllerNotEnabled = errors.New("not enabled for the group")
)

// ControllerError says which controllers a group cannot use and why.
type ControllerError struct {
	Dir         string   // the group directory
	Mount       string   // the v2 mount point
	Controllers []string // the controllers concerned
	Available   []string // what the hierarchy's root offers
	Err         error    // ErrControllerUnavailable or ErrControllerNotEnabled
}

func (e *ControllerError) Error() string {
	list := strings.Join(e.Controllers, ", ")
	if errors.Is(e.Err, ErrControllerNotEnabled) {
		return fmt.Sprintf("controller %s %v for %s: enable it in the parent's cgroup.subtree_control (EnableControllers on the parent)", list, e.Err, e.Dir)
	}
	avail := strings.Join(e.Available, " ")
	if avail == "" {
		avail = "none"
	}
	return fmt.Sprintf("controller %s %v at %s (it offers: %s), so %s cannot use it; on a hybrid host a v1 hierarchy owns it", list, e.Err, e.Mount, avail, e.Dir)
}

// Unwrap returns ErrControllerUnavailable or ErrControllerNotEnabled.
func (e *ControllerError) Unwrap() error { return e.Err }

func (m *Manager) readList(file string) ([]string, error) {
	s, err := m.read(file)
	if err != nil {
		return nil, err
	}
	return ParseControllers(strings.NewReader(s))
}

// Controllers returns the controllers the group can use (its
// cgroup.controllers, i.e. what its parent enabled for it; at the root,
// every controller bound to the v2 hierarchy).
func (m *Manager) Controllers() ([]string, error) { return m.readList("cgroup.controllers") }

// SubtreeControl returns the controllers the group enables for its
// children (cgroup.subtree_control).
func (m *Manager) SubtreeControl() ([]string, error) { return m.readList("cgroup.subtree_control") }

// ClearSubtreeControl disables every controller the group enables for
// its children, so that it may hold tasks itself (cgroup v2's
// no-internal-process rule).
func (m *Manager) ClearSubtreeControl() error {
	on, err := m.SubtreeControl()
	if err != nil {
		return err
	}
	for _, c := range on {
		if err := m.write("cgroup.subtree_control", "-"+c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) root() *Manager { return &Manager{mount: m.mount, group: "/"} }

// MissingControllers returns those of names that the v2 hierarchy does not
// offer at all (not in the root's cgroup.controllers). On a hybrid host
// that is every controller a v1 hierarchy owns.
func (m *Manager) MissingControllers(names ...string) ([]string, error) {
	avail, err := m.root().Controllers()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if !slices.Contains(avail, n) {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// EnableControllers makes names usable by the group's children by writing
// "+name" to cgroup.subtree_control, one controller at a time, of every
// group from the mount root down to m where it is not already enabled.
// The writes above m touch groups ktstar did not create (normally only the
// mount root), exactly as the spec's setup step does. Controllers the
// hierarchy lacks are not a silent no-op: the available ones are enabled
// and a *ControllerError (ErrControllerUnavailable) lists the others.
func (m *Manager) EnableControllers(names ...string) error {
	missing, err := m.MissingControllers(names...)
	if err != nil {
		return err
	}
	var chain []*Manager
	for g := m; ; g = g.Parent() {
		chain = append(chain, g)
		if g.isRoot() {
			break
		}
	}
	for _, n := range names {
		if slices.Contains(missing, n) {
			continue
		}
		for _, g := range slices.Backward(chain) {
			on, err := g.SubtreeControl()
			if err != nil {
				return err
			}
			if slices.Contains(on, n) {
				continue
			}
			if err := g.write("cgroup.subtree_control", "+"+n); err != nil {
				return err
			}
		}
	}
	return m.unavailable(missing)
}

// Unavailable returns the *ControllerError EnableControllers would return
// for those of names the hierarchy does not offer at all, or nil. It only
// reads (ktstar check asks it instead of enabling anything).
func (m *Manager) Unavailable(names ...string) error {
	missing, err := m.MissingControllers(names...)
	if err != nil {
		return err
	}
	return m.unavailable(missing)
}

func (m *Manager) unavailable(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	avail, _ := m.root().Controllers()
	return &ControllerError{Dir: m.Path(), Mount: m.mount, Controllers: missing, Available: avail, Err: ErrControllerUnavailable}
}

// requireController checks that the group itself can use controller c.
func (m *Manager) requireController(c string) error {
	have, err := m.Controllers()
	if err != nil {
		return err
	}
	if slices.Contains(have, c) {
		return nil
	}
	avail, err := m.root().Controllers()
	if err != nil {
		return err
	}
	e := &ControllerError{Dir: m.Path(), Mount: m.mount, Controllers: []string{c}, Available: avail, Err: ErrControllerUnavailable}
	if slices.Contains(avail, c) {
		e.Err = ErrControllerNotEnabled
	}
	return e
}
