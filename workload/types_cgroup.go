package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupTypes move their workers between cgroups. Their groups are made by
// Spawn under Config.CgroupParent (Type.Cgroups), so a worker writes only
// into groups ktstar created for it.
var cgroupTypes = []Type{
	{
		Name: "CgroupChurn", Ctor: "cgroup_churn",
		Doc:         "Move the worker's own process to the next of its sibling cgroups (cgroup.procs) every cycle, then spin 256 steps.",
		NotAsThread: "writing its pid to cgroup.procs moves the whole process, every other worker thread of it included",
		Example:     map[string]any{"cycle_ms": 1},
		Params: []Param{
			{Name: "groups", Kind: KindInt, Default: int64(2), Min: 0, Max: 64, Doc: "sibling cgroups to rotate through, created under the run's group (0 counts as 1)"},
			// An int of ms, as ktstr; bounded below the stop deadline since the sleep is one call.
			sleepMsParam("cycle_ms", "sleep between moves, ms (0: no sleep)"),
		},
		Cgroups: func(w Work) int { return max(int(w.Int("groups")), 1) },
		New:     newCgroupChurn,
	},
}

// cgroupChurn writes its pid to the cgroup.procs of group k, k = iteration
// mod groups. A failed write drops the file so the next visit reopens it
// (the group may have been removed and made again).
type cgroupChurn struct {
	w       *Worker
	procs   []string // each group's cgroup.procs
	fds     []int    // open for writing; -1 after a failure
	payload []byte   // "<pid>\n": the whole process moves, as it must
	period  time.Duration
	step    int
}

func newCgroupChurn(w *Worker) (Body, error) {
	dirs := w.spec.CgroupDirs
	if len(dirs) == 0 {
		return nil, errors.New("no cgroups to move between (Spawn makes them under Config.CgroupParent)")
	}
	b := &cgroupChurn{
		w:       w,
		payload: []byte(strconv.Itoa(os.Getpid()) + "\n"),
		period:  time.Duration(w.work.Int("cycle_ms")) * time.Millisecond,
	}
	for _, d := range dirs {
		p := filepath.Join(d, "cgroup.procs")
		// Opened before the gate, so a group the worker may not write is a
		// spawn error rather than a loop of failures.
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		b.procs = append(b.procs, p)
		b.fds = append(b.fds, fd)
	}
	// Counters exist before the loop, so counting never grows the map there.
	w.Count("cgroup_moves", 0)
	w.Count("cgroup_move_errors", 0)
	return b, nil
}

func (b *cgroupChurn) Step() bool {
	w := b.w
	k := b.step % len(b.fds)
	b.step++
	if b.fds[k] < 0 {
		if fd, err := unix.Open(b.procs[k], unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			b.fds[k] = fd
		}
	}
	if fd := b.fds[k]; fd >= 0 {
		if _, err := unix.Write(fd, b.payload); err != nil {
			unix.Close(fd)
			b.fds[k] = -1
			w.Count("cgroup_move_errors", 1)
		} else {
			w.Count("cgroup_moves", 1)
		}
	} else {
		w.Count("cgroup_move_errors", 1)
	}
	if b.period > 0 && !w.Stopped() {
		nanosleep(b.period)
	}
	w.SpinBurst(256)
	w.ResetGap()
	return true
}

// Close closes the cgroup.procs files.
func (b *cgroupChurn) Close() {
	for _, fd := range b.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	b.fds = nil
}
