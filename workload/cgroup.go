package workload

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/ktstar/ktstar/cgroupfs"
)

// Cgroup is a cgroup v2 group that Spawn creates its workers in
// (Config.Cgroup). *cgroupfs.Manager implements it.
type Cgroup interface {
	// OpenDir opens the group directory O_PATH|O_DIRECTORY|O_CLOEXEC for
	// clone3's CLONE_INTO_CGROUP.
	OpenDir() (*os.File, error)
	// AddProc writes pid to the group's cgroup.procs (the fallback).
	AddProc(pid int) error
	// Group is the group's path as /proc/PID/cgroup shows it.
	Group() string
}

// startProcess starts one worker process. With a cgroup directory, the
// process is created inside the group (SysProcAttr.UseCgroupFD: clone3
// CLONE_INTO_CGROUP), so not one instruction of it runs elsewhere and no
// cgroup.procs write contends on cgroup_threadgroup_rwsem. If that start
// fails (kernel before 5.7, a group that refuses tasks), it follows runc:
// start again without it, then move the process through cgroup.procs
// while it is still parked before the start gate; later workers of the
// handle go straight to the fallback. The reason is kept in
// Handle.CgroupFallback.
func (h *Handle) startProcess(exe string, attr *os.ProcAttr, cgDir *os.File, cpus []int) (proc *os.Process, err error) {
	start := func(a *os.ProcAttr) {
		h.spawner.do(func() { proc, err = os.StartProcess(exe, []string{"ktstar-worker"}, a) })
	}
	if cgDir == nil {
		start(attr)
		return proc, err
	}
	if h.cgFallback == nil {
		sys := *attr.Sys
		sys.UseCgroupFD, sys.CgroupFD = true, int(cgDir.Fd())
		into := *attr
		into.Sys = &sys
		if start(&into); err == nil {
			return proc, nil
		}
		h.cgFallback = fmt.Errorf("start inside cgroup %s failed, so workers are moved through cgroup.procs: %w", h.cfg.Cgroup.Group(), err)
	}
	if start(attr); err != nil {
		return nil, err
	}
	if err := h.cfg.Cgroup.AddProc(proc.Pid); err != nil {
		killGroup(proc.Pid)
		proc.Wait()
		return nil, fmt.Errorf("move into cgroup %s: %w", h.cfg.Cgroup.Group(), err)
	}
	// Attaching to a group with a cpuset resets the task's CPU mask to the
	// cpuset, undoing a mask the worker may already have applied.
	if len(cpus) > 0 {
		if err := pin(proc.Pid, cpus); err != nil {
			h.cgFallback = errors.Join(h.cgFallback, fmt.Errorf("restore worker %d's CPU mask after the move: %w", proc.Pid, err))
		}
	}
	return proc, nil
}

// CgroupFallback returns nil when every worker was created inside
// Config.Cgroup, and otherwise why they had to be moved in afterwards.
func (h *Handle) CgroupFallback() error { return h.cgFallback }

// baseSysProcAttr is every worker's process attributes: its own process
// group, and SIGKILL when the spawner thread dies.
func baseSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// makeOwnGroups creates the groups a type with Type.Cgroups moves its
// workers between, named <ctor>-<random>-<i> under Config.CgroupParent
// (the random part keeps two handles, or a script's own group of the same
// name, apart). It returns their directories; close removes them.
func (h *Handle) makeOwnGroups(t *Type) ([]string, error) {
	parent := h.cfg.CgroupParent
	if parent == nil {
		return nil, fmt.Errorf("spawn: %s moves its workers between cgroups of its own, so it needs Config.CgroupParent, a group ktstar created (it creates no groups anywhere else)", t.Name)
	}
	n := t.Cgroups(h.cfg.Work)
	tag := fmt.Sprintf("%s-%08x", t.Ctor, rand.Uint32())
	dirs := make([]string, n)
	for i := range n {
		g, err := parent.NewChild(fmt.Sprintf("%s-%d", tag, i))
		if err != nil {
			return nil, fmt.Errorf("spawn: %s: %w", t.Name, err)
		}
		h.ownGroups = append(h.ownGroups, g)
		dirs[i] = g.Path()
	}
	return dirs, nil
}

// removeOwnGroups removes the handle's own groups, last made first, once
// its workers are reaped. Destroy also kills a worker that escaped the
// reaping deadline: only this handle's workers ever enter these groups.
func (h *Handle) removeOwnGroups() error {
	var errs []error
	for _, g := range slices.Backward(h.ownGroups) {
		if err := g.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("remove %s's cgroup: %w", h.cfg.Work.Name(), err))
		}
	}
	h.ownGroups = nil
	return errors.Join(errs...)
}

// placementHint says how to give a Placement type the group it needs.
const placementHint = "spawn it in a group made for this run (a script: spawn(cfg, cgroup = cgroup.create(name)))"

// noGroupError refuses a Placement type spawned without a cgroup;
// Config.Preflight returns it, so that ktstar check sees it too.
func noGroupError(p *Placement) error {
	return invalid("%s, so it runs only inside a cgroup ktstar manages, and it has none: %s", p.Acts, placementHint)
}

// placementDirs checks that Config.Cgroup is a group ktstar made for this
// run: below Config.CgroupParent, which must be a run group
// (cgroupfs.RunPrefix). Then it lets the type resolve the directories its
// workers get.
func placementDirs(cfg Config, p *Placement) ([]string, error) {
	run := cfg.CgroupParent
	switch {
	case cfg.Cgroup == nil:
		return nil, noGroupError(p)
	case run == nil || !strings.HasPrefix(path.Base(run.Group()), cgroupfs.RunPrefix):
		return nil, fmt.Errorf("%s, so it runs only inside a cgroup ktstar manages, and %s is not known to be one (Config.CgroupParent is not a run group): %s", p.Acts, cfg.Cgroup.Group(), placementHint)
	case !strings.HasPrefix(cfg.Cgroup.Group(), run.Group()+"/"):
		return nil, fmt.Errorf("%s, so it runs only inside a cgroup ktstar manages, and %s is outside this run's group %s: %s", p.Acts, cfg.Cgroup.Group(), run.Group(), placementHint)
	}
	return p.Dirs(cfg, path.Join(run.Mount(), cfg.Cgroup.Group()))
}
