package starlib

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/cgroupfs"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// cgroupState is a session's cgroups: one run group (ktstar-<pid>-<run id>) made
// on first use, after sweeping the groups of runs that died, and the
// groups the script created below it. Session.Close destroys it all.
type cgroupState struct {
	run       *cgroupfs.Manager
	cpusetErr error // why groups cannot have cpusets; nil when they can
	groups    map[string]*CgroupValue
	closeErr  error // what Session.Close could not remove
}

// runGroup returns the run's group, creating it on first use. Creating it
// first sweeps ktstar-* groups whose owner is gone (a run killed with
// SIGKILL) and tries to enable the cpuset controller for its children.
func (s *Session) runGroup() (*cgroupfs.Manager, error) {
	if s.cg.run != nil {
		return s.cg.run, nil
	}
	root, err := cgroupfs.Default()
	if err != nil {
		return nil, fmt.Errorf("no cgroup v2 hierarchy: %w", err)
	}
	// A stale group that cannot be removed now is no reason to fail this
	// run; the next run's sweep tries again.
	root.Sweep()
	run, err := root.NewRun()
	if err != nil {
		return nil, err
	}
	s.cg.run = run
	s.cg.cpusetErr = run.EnableControllers("cpuset")
	s.cg.groups = map[string]*CgroupValue{}
	return run, nil
}

// closeCgroups destroys the run group and everything in it.
func (s *Session) closeCgroups() {
	if s.cg.run == nil {
		return
	}
	for _, g := range s.cg.groups {
		g.removed = true
	}
	if err := s.cg.run.Destroy(); err != nil {
		s.cg.closeErr = errors.Join(s.cg.closeErr, err)
	}
	s.cg.run, s.cg.groups = nil, nil
}

// CleanupErr returns what Close could not remove (a cgroup that stayed
// busy), or nil.
func (s *Session) CleanupErr() error { return s.cg.closeErr }

// cgroupModule is the Starlark module `cgroup`: cgroup v2 groups for the
// script's workers, all below the run's group ktstar-<pid>-<run id>, which is
// removed with everything in it when the run ends, however it ends.
//
//	def create(name, cpuset = None, cpu_weight = None, cpu_max = None,
//	           memory_max = None, memory_high = None, memory_low = None,
//	           memory_swap_max = None, io_weight = None, pids_max = None,
//	           cpuset_mems = None) -> cgroup
//	    a new group ("a/b" nests); cpuset is a cpus.* spec, a CPU list or
//	    None. A cpuset needs the cpuset controller in the v2 hierarchy;
//	    without it this fails, saying why. The limits (runtime.md §7.6):
//	    cpu_weight and io_weight 1..10000; cpu_max (quota, period) as
//	    durations, period 1ms..1s, quota 1ms or more; memory_* in bytes
//	    or "max"; pids_max 1 or more or "max"; cpuset_mems NUMA nodes (a
//	    list or "0-1"). Exactly the controllers they need are enabled for
//	    the run's groups; one the hierarchy lacks is an error naming it.
//	def cpuset_available() -> bool
//	    whether groups can have cpusets on this machine.
//	def cpuset_reason() -> str or None
//	    why they cannot (None when they can), for a skip message.
//
// A cgroup value has:
//
//	name, path, dir    its name, its path as /proc/PID/cgroup and reports
//	                   show it ("/ktstar-12-5f3a9c01/web"), its directory
//	cpuset             the CPUs last written (a list), or None
//	set_cpuset(spec)   write cpuset.cpus (a cpus.* spec, list or "0-3")
//	clear_cpuset()     write an empty cpuset.cpus: use the parent's CPUs
//	move(handle)       move every worker of a spawned handle into the group
//	pids()             the processes in the group (cgroup.procs)
//	freeze()           write 1 to cgroup.freeze; returns once every task is
//	                   frozen (their loops stop; unfreeze before stopping
//	                   a handle, or its reports are lost to the deadline)
//	unfreeze()         write 0 and wait until the tasks run again
//	frozen             whether freeze() was the last of the two
//	read(file)         the text of one of its interface files, e.g.
//	                   "memory.events", "pids.events", "cpu.stat"
//	remove()           kill what is in it and remove it
func (s *Session) cgroupModule() *starlarkstruct.Module {
	return builtinModule("cgroup", map[string]builtinFunc{
		"create":           s.cgroupCreate,
		"cpuset_available": s.cpusetAvailable,
		"cpuset_reason":    s.cpusetReason,
	})
}

func (s *Session) cpusetAvailable(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	err := s.cpusetUsable()
	return starlark.Bool(err == nil), nil
}

func (s *Session) cpusetReason(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if err := s.cpusetUsable(); err != nil {
		return starlark.String(err.Error()), nil
	}
	return starlark.None, nil
}

// cpusetUsable returns nil when groups of this run can have cpusets, and
// otherwise why not.
func (s *Session) cpusetUsable() error {
	if s.opts.CheckOnly {
		return checkCpusetUsable()
	}
	if _, err := s.runGroup(); err != nil {
		return err
	}
	return s.cg.cpusetErr
}

// resolveCpuset turns a cpuset argument into CPUs for this machine: valid,
// non-empty, and only when the controller is there.
func (s *Session) resolveCpuset(fn string, v starlark.Value) ([]int, error) {
	spec, err := cpusetSpec(fn, v)
	if err != nil {
		return nil, err
	}
	tp, err := s.topology()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	cpus, err := spec.Resolve(tp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("%s: cpus.%s resolves to 0 CPUs on this machine (usable CPUs: %d); widen it, or use clear_cpuset() for the parent's CPUs", fn, spec, len(tp.UsableCPUs()))
	}
	if err := s.cpusetUsable(); err != nil {
		return nil, fmt.Errorf("%s: cpusets are not available (check cgroup.cpuset_available() first): %w", fn, err)
	}
	return cpus, nil
}

func (s *Session) cgroupCreate(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var cpuset starlark.Value = starlark.None
	lim := make([]starlark.Value, len(limitParams))
	pairs := []any{"name", &name, "cpuset?", &cpuset}
	for i, p := range limitParams {
		pairs = append(pairs, p+"?", &lim[i])
	}
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
		return nil, err
	}
	fn := fmt.Sprintf("cgroup.create(%q)", name)
	if err := cgroupfs.ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	kw := map[string]starlark.Value{}
	for i, p := range limitParams {
		if lim[i] != nil {
			kw[p] = lim[i]
		}
	}
	limits, err := parseLimits(kw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if s.opts.CheckOnly && s.cg.groups == nil {
		s.cg.groups = map[string]*CgroupValue{}
	}
	var run *cgroupfs.Manager
	if !s.opts.CheckOnly {
		var err error
		if run, err = s.runGroup(); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if _, taken := s.cg.groups[name]; taken {
		return nil, fmt.Errorf("%s: a group of that name exists already in this run (names: %v)", fn, s.groupNames())
	}
	var cpus []int
	if cpuset != starlark.None {
		var err error
		if cpus, err = s.resolveCpuset(fn+": cpuset", cpuset); err != nil {
			return nil, err
		}
	}
	if s.opts.CheckOnly {
		g := &CgroupValue{s: s, name: name, m: checkGroup{name}, cpuset: cpus}
		s.cg.groups[name] = g
		return g, nil
	}
	m, err := run.NewChild(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if cpus != nil {
		if err := m.SetCpus(cpus); err != nil {
			m.Delete()
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if err := m.SetLimits(limits); err != nil {
		m.Delete()
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	g := &CgroupValue{s: s, name: name, m: m, cpuset: cpus}
	s.cg.groups[name] = g
	return g, nil
}

func (s *Session) groupNames() []string {
	var out []string
	for n := range s.cg.groups {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// CgroupValue is the Starlark value of one group the script created.
type CgroupValue struct {
	s       *Session
	name    string
	m       group // the group, or a check's stand-in
	cpuset  []int // last written; nil for none
	removed bool
	frozen  bool // last written to cgroup.freeze
}

var _ starlark.HasAttrs = (*CgroupValue)(nil)

// String describes the group.
func (g *CgroupValue) String() string {
	state := ""
	if g.removed {
		state = ", removed"
	}
	return fmt.Sprintf("<cgroup %s%s>", g.m.Group(), state)
}

// Type returns "cgroup".
func (g *CgroupValue) Type() string { return "cgroup" }

// Freeze does nothing: a cgroup is a resource, its state is the kernel's.
func (g *CgroupValue) Freeze() {}

// Truth is always true.
func (g *CgroupValue) Truth() starlark.Bool { return true }

// Hash fails: a cgroup is a resource, not a value.
func (g *CgroupValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: cgroup") }

// AttrNames lists the attributes.
func (g *CgroupValue) AttrNames() []string {
	return []string{"clear_cpuset", "cpuset", "dir", "freeze", "frozen", "move", "name", "path", "pids", "read", "remove", "set_cpuset", "unfreeze"}
}

// Attr returns a field or a bound method.
func (g *CgroupValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(g.name), nil
	case "path":
		return starlark.String(g.m.Group()), nil
	case "dir":
		return starlark.String(g.m.Path()), nil
	case "frozen":
		return starlark.Bool(g.frozen), nil
	case "cpuset":
		if g.cpuset == nil {
			return starlark.None, nil
		}
		return intList(g.cpuset), nil
	}
	fn := map[string]builtinFunc{"set_cpuset": g.setCpuset, "clear_cpuset": g.clearCpuset, "move": g.move, "pids": g.pids, "remove": g.remove, "freeze": g.freeze, "unfreeze": g.unfreeze, "read": g.read}[name]
	if fn == nil {
		return nil, nil
	}
	return bind(g, name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if g.removed {
			return nil, fmt.Errorf("%s: cgroup %q was removed", b.Name(), g.name)
		}
		return fn(thread, b, args, kwargs)
	}), nil
}

func (g *CgroupValue) setCpuset(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "spec", &v); err != nil {
		return nil, err
	}
	fn := fmt.Sprintf("set_cpuset of cgroup %q", g.name)
	cpus, err := g.s.resolveCpuset(fn, v)
	if err != nil {
		return nil, err
	}
	if err := g.m.SetCpus(cpus); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	g.cpuset = cpus
	return starlark.None, nil
}

func (g *CgroupValue) clearCpuset(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	fn := fmt.Sprintf("clear_cpuset of cgroup %q", g.name)
	if err := g.s.cpusetUsable(); err != nil {
		return nil, fmt.Errorf("%s: cpusets are not available (check cgroup.cpuset_available() first): %w", fn, err)
	}
	if err := g.m.ClearCpus(); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	g.cpuset = nil
	return starlark.None, nil
}

func (g *CgroupValue) move(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var h *Handle
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "handle", &h); err != nil {
		return nil, err
	}
	if h.state == "stopped" {
		return nil, fmt.Errorf("move into cgroup %q: the workload was stopped", g.name)
	}
	if _, err := g.m.AddProcs(h.h.Pids()); err != nil {
		return nil, fmt.Errorf("move into cgroup %q: %w", g.name, err)
	}
	return starlark.None, nil
}

// freeze writes 1 to cgroup.freeze and returns once the kernel reports
// every task frozen; unfreeze undoes it. Both are idempotent.
func (g *CgroupValue) freeze(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return g.setFrozen(b, args, kwargs, true)
}

func (g *CgroupValue) unfreeze(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return g.setFrozen(b, args, kwargs, false)
}

func (g *CgroupValue) setFrozen(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, frozen bool) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	set := g.m.Thaw
	if frozen {
		set = g.m.Freeze
	}
	if err := set(); err != nil {
		return nil, fmt.Errorf("%s cgroup %q: %w", b.Name(), g.name, err)
	}
	g.frozen = frozen
	return starlark.None, nil
}

func (g *CgroupValue) read(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var file string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "file", &file); err != nil {
		return nil, err
	}
	text, err := g.m.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read of cgroup %q: %w", g.name, err)
	}
	return starlark.String(text), nil
}

func (g *CgroupValue) pids(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	pids, err := g.m.Procs(false)
	if err != nil {
		return nil, fmt.Errorf("pids of cgroup %q: %w", g.name, err)
	}
	return intList(pids), nil
}

// remove kills whatever is in the group (only this run's workers can be)
// and removes it; its handles' reports become sentinels.
func (g *CgroupValue) remove(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if err := g.m.Destroy(); err != nil {
		return nil, fmt.Errorf("remove cgroup %q: %w", g.name, err)
	}
	for n, sub := range g.s.cg.groups {
		if n == g.name || strings.HasPrefix(n, g.name+"/") {
			sub.removed = true
			delete(g.s.cg.groups, n)
		}
	}
	return starlark.None, nil
}
