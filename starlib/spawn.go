package starlib

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ktstar/ktstar/cgroupfs"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// spawn implements the builtin
//
//	def spawn(cfg, cgroup = None) -> handle
//
// which starts cfg.workers worker processes, parked at the start gate.
// With a cgroup (cgroup.create), the workers are created inside it, and
// cfg's affinity is resolved against the group's cpuset (runtime.md §2.3):
// that is where the topology-aware intents (affinity.single_cpu() …) are
// accepted. A work type with groups of its own (cgroup_churn) gets them
// below the run's group; one that acts on the other tasks of its group
// (cross_affinity_churn, cgroup_attach_storm) needs a cgroup of the run. The handle's attributes:
//
//	pids                 list of the worker pids, in spawn order
//	start()              open the start gate
//	snapshot()           list of each worker's iteration count so far
//	set_affinity(i, cpus) move worker i onto cpus (a list or "0-3")
//	stop()               stop every worker and return one report dict each
//	kill()               kill every worker at once; no reports
//
// A handle the script does not stop is killed and reaped when the script
// ends, fails or is interrupted.
func (s *Session) spawn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cfg WorkloadValue
	var cg starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cfg", &cfg, "cgroup?", &cg); err != nil {
		return nil, err
	}
	if err := threadContext(thread).Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	c, err := s.placement(cfg.C, cg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	var h workers
	if s.opts.CheckOnly {
		h, err = checkSpawn(c)
	} else {
		h, err = workload.Spawn(c)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	s.spawned++
	hv := &Handle{h: h, cfg: c, session: s, seq: s.spawned, label: cfg.Label,
		name: s.spawnLabel(SpawnLabel(cfg.Label, cgroupName(cg), c))}
	if s.tidLabels == nil {
		s.tidLabels = map[int]string{}
	}
	for _, pid := range h.Pids() {
		s.tidLabels[pid] = hv.name
	}
	if fb := h.CgroupFallback(); fb != nil {
		hv.noteCgroupFallback(fb, os.Stderr)
	}
	s.handles = append(s.handles, hv)
	return hv, nil
}

// placement completes a spawn request with its cgroups: the group the
// workers start in (cg, a cgroup value or None) with the affinity resolved
// against its cpuset, and the run group for a type with groups of its own.
func (s *Session) placement(c workload.Config, cg starlark.Value) (workload.Config, error) {
	if cg != starlark.None {
		g, ok := cg.(*CgroupValue)
		if !ok {
			return c, fmt.Errorf("cgroup: want a cgroup (cgroup.create) or None, got %s", cg.Type())
		}
		if g.removed {
			return c, fmt.Errorf("cgroup %q was removed", g.name)
		}
		tp, err := s.topology()
		if err != nil {
			return c, err
		}
		if c.Affinity, err = workload.ResolveAffinity(c.Affinity, tp, g.cpuset); err != nil {
			return c, fmt.Errorf("cgroup %q: %w", g.name, err)
		}
		c.Cgroup, _ = g.m.(*cgroupfs.Manager) // nil for a check's stand-in
	}
	if t := c.Work.Type(); (t.Cgroups != nil || (t.Placement != nil && c.Cgroup != nil)) && !s.opts.CheckOnly {
		run, err := s.runGroup()
		if err != nil {
			return c, fmt.Errorf("%s needs cgroups of its own: %w", c.Work.Name(), err)
		}
		c.CgroupParent = run
	}
	return c, nil
}

// noteCgroupFallback records why the workers were moved into their
// cgroup after starting instead of being created in it, and warns on w:
// never silently, since a result may depend on where a worker began.
func (h *Handle) noteCgroupFallback(fb error, w io.Writer) {
	h.cgroupFallback = fb.Error()
	fmt.Fprintf(w, "ktstar: warning: %s: %v\n", h.Label(), fb)
}

// Handle is the Starlark value of a spawned workload.
type Handle struct {
	h       workers // the workers, or a check's stand-in
	cfg     workload.Config
	session *Session
	seq     int      // the spawn's number in the run, from 1
	label   string   // workload(label = ...), "" when not given
	name    string   // the stable label of its rows (SpawnLabel, made unique)
	sampler *sampler // the timeline under way, with Options.Interval
	// mu is held while the handle stops, so that the progress display
	// never reads the counters of a handle being torn down.
	mu    sync.Mutex
	state string // "spawned", "running" or "stopped"
	// cgroupFallback says why the workers were not created inside their
	// cgroup but moved in afterwards; empty when they were.
	cgroupFallback string
}

// Label names the handle in progress lines, summaries and --json: the
// same script run twice labels its spawns the same (SpawnLabel).
func (h *Handle) Label() string { return h.name }

// SpawnLabel is the label of a spawn's rows before it is made unique in
// its run: the explicit label, else the name of the cgroup the workers
// were spawned into, else their comm, else a custom work's name, else the
// work type. None of these depends on pids, paths or timing, so two runs
// of one script join row by row (ktstar compare).
func SpawnLabel(explicit, cgroup string, c workload.Config) string {
	for _, l := range []string{explicit, cgroup, c.Comm} {
		if l != "" {
			return l
		}
	}
	return c.Work.Label()
}

// spawnLabel makes base unique in the session: the second spawn with the
// same base is base#2, and so on, in the script's order.
func (s *Session) spawnLabel(base string) string {
	if s.labels == nil {
		s.labels = map[string]int{}
	}
	s.labels[base]++
	if n := s.labels[base]; n > 1 {
		return fmt.Sprintf("%s#%d", base, n)
	}
	return base
}

// cgroupName is the name a cgroup value was created with, "" for None.
func cgroupName(cg starlark.Value) string {
	if g, ok := cg.(*CgroupValue); ok {
		return g.name
	}
	return ""
}

// progressGroups returns one progress line per running handle. A handle
// being stopped shows no workers rather than waiting for the stop.
func (s *Session) progressGroups() []ProgressGroup {
	var out []ProgressGroup
	for _, h := range s.handles {
		if h.state != "running" {
			continue
		}
		out = append(out, ProgressGroup{Name: h.Label(), Snapshot: func() []uint64 {
			if !h.mu.TryLock() {
				return nil
			}
			defer h.mu.Unlock()
			if h.state != "running" {
				return nil
			}
			return h.h.SnapshotIterations()
		}})
	}
	return out
}

var _ starlark.HasAttrs = (*Handle)(nil)

// String describes the workload and its state.
func (h *Handle) String() string {
	state := h.state
	if state == "" {
		state = "spawned"
	}
	return fmt.Sprintf("<handle %s x%d, %s>", h.cfg.Work.Name(), h.cfg.Workers, state)
}

// Type returns "handle".
func (h *Handle) Type() string { return "handle" }

// Freeze does nothing: a handle has no Starlark-visible mutable state.
func (h *Handle) Freeze() {}

// Truth is always true.
func (h *Handle) Truth() starlark.Bool { return true }

// Hash fails: a handle is a resource, not a value.
func (h *Handle) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: handle") }

// Attr returns pids or a bound method.
func (h *Handle) Attr(name string) (starlark.Value, error) {
	if name == "pids" {
		return intList(h.h.Pids()), nil
	}
	methods := map[string]builtinFunc{"start": h.start, "snapshot": h.snapshot, "set_affinity": h.setAffinity, "stop": h.stop, "kill": h.kill}
	return bind(h, name, methods[name]), nil
}

// AttrNames lists the attributes.
func (h *Handle) AttrNames() []string {
	return []string{"kill", "pids", "set_affinity", "snapshot", "start", "stop"}
}

func (h *Handle) start(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if h.state == "stopped" {
		return nil, fmt.Errorf("start: workload already stopped")
	}
	if err := h.h.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	h.mu.Lock()
	h.state = "running"
	h.mu.Unlock()
	if iv := h.session.opts.Interval; iv > 0 {
		h.startTimeline(iv)
	}
	return starlark.None, nil
}

func (h *Handle) snapshot(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	its := h.h.SnapshotIterations()
	out := make([]starlark.Value, len(its))
	for i, n := range its {
		out[i] = starlark.MakeUint64(n)
	}
	return starlark.NewList(out), nil
}

func (h *Handle) setAffinity(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var i int
	var cpus cpuListParam
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "i", &i, "cpus", &cpus); err != nil {
		return nil, err
	}
	if err := h.h.SetAffinity(i, cpus); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// stop collects the reports. It is bounded by the workload's own stop
// deadline, and cut short when the run is interrupted meanwhile: then the
// workers still running are killed, the reports are kept, marked with the
// reason, and the interruption ends the script.
func (h *Handle) stop(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	ctx := threadContext(thread)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	reports, err := h.collect(ctx, "")
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stop: %w", context.Cause(ctx))
	}
	return Reports(reports), nil
}

// collect stops the workers and records their reports as a Run, marked
// interrupted with reason (or with ctx's reason if ctx ends first).
func (h *Handle) collect(ctx context.Context, reason string) ([]workload.Report, error) {
	tl := h.stopTimeline()
	h.mu.Lock()
	reports, err := h.h.StopAndCollectContext(ctx)
	if err == nil {
		h.state = "stopped"
	}
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		reason = interruptReason(ctx)
	}
	h.session.runs = append(h.session.runs, Run{Handle: h.seq, Label: h.name, Workload: workloadJSON(h.cfg, h.label), Reports: reports, Timeline: tl,
		CgroupFallback: h.cgroupFallback, Interrupted: reason})
	h.session.standIns = h.session.standIns || h.session.opts.CheckOnly
	return reports, nil
}

// kill kills and reaps every worker at once, without reports (a scenario's
// stop_cgroup and remove_cgroup drop workers this way).
func (h *Handle) kill(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	h.stopTimeline()
	h.h.Close()
	h.state = "stopped"
	return starlark.None, nil
}
