package workload

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/owner"
)

// Preflight is everything Spawn checks before it acts: cfg is valid
// (Validate), a type that acts on its own cgroup has one (Placement),
// this machine can run the work of every group (Work.Preflight,
// sched_ext, the NUMA node), and its limits admit that many workers
// (admission, admit.go). `ktstar check` runs it in place of Spawn.
func (c *Config) Preflight() error {
	if err := c.Validate(); err != nil {
		return err
	}
	for k, g := range c.groups() {
		var err error
		if p := g.Work.Type().Placement; p != nil && g.Cgroup == nil {
			err = noGroupError(p)
		}
		if err == nil {
			err = g.Work.Preflight()
		}
		if err == nil {
			err = extAvailable(g.Policy)
		}
		if err == nil {
			_, err = g.nodeCPUs()
		}
		if err == nil {
			err = g.MemPolicy.preflight(g.Cgroup)
		}
		if err != nil {
			return groupErr(k, err)
		}
	}
	return c.admit()
}

// groupErr names the composed group of an error; the primary's go as is.
func groupErr(k int, err error) error {
	if k == 0 {
		return err
	}
	return fmt.Errorf("composed[%d] (group_idx %d): %w", k-1, k, err)
}

// Spawn validates cfg, starts the workers of its primary group and of
// every composed group, and returns once every one of them has applied
// its settings and parked at the start gate. If any worker fails, every
// worker already started is killed and reaped and the error names the
// worker.
//
// It runs in four steps: lay out and map the shared memory (newLayouts,
// mapShared), then per group wire each type group's shared files
// (groupWiring) and start each worker (startChild), and wait until all
// have parked (waitParked).
func Spawn(cfg Config) (h *Handle, err error) {
	if err := cfg.Preflight(); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn: find own executable: %w", err)
	}
	groups := cfg.groups()
	h = &Handle{cfg: cfg, spawner: newSpawnThread()}
	defer func() {
		if err != nil {
			h.Close()
			h = nil
		}
	}()

	shapes := make([]groupShape, len(groups))
	for k, g := range groups {
		shapes[k] = groupShape{g.Workers, g.Work.GroupSize(), g.Work.Type()}
		h.collectLimit = max(h.collectLimit, collectDeadline(g.Work))
	}
	layouts := newLayouts(shapes)
	shmFile, err := h.mapShared(layouts[0].Size)
	if err != nil {
		return h, err
	}
	defer shmFile.Close()

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return h, fmt.Errorf("spawn: %w", err)
	}
	defer devnull.Close()

	env := spawnEnv{exe: exe, devnull: devnull, shm: shmFile}
	if cfg.Cgroup != nil {
		if env.cgDir, err = cfg.Cgroup.OpenDir(); err != nil {
			return h, fmt.Errorf("spawn: %w", err)
		}
		defer env.cgDir.Close()
	}
	if env.self, err = owner.Self(); err != nil {
		return h, fmt.Errorf("spawn: %w", err)
	}
	first := 0
	for k, g := range groups {
		if err := h.spawnGroup(env, k, first, g, layouts[k]); err != nil {
			return h, groupErr(k, err)
		}
		first += g.Workers
	}
	for _, hp := range h.hosts {
		if err := h.startHost(env, hp); err != nil {
			return h, err
		}
	}
	// Reports come in worker order, whichever process hosts a worker.
	slices.SortFunc(h.children, func(a, b *child) int { return a.idx - b.idx })
	if err := h.waitParked(); err != nil {
		return h, err
	}
	for _, c := range h.children {
		if c.host != nil {
			c.tid = int(atomic.LoadUint64((*uint64)(unsafe.Pointer(&h.shm[c.slot+slotPid]))))
		}
	}
	// The workers' time limit at the gate runs from here, not from each
	// one's parking: spawning thousands can take longer than the limit.
	atomic.StoreInt64((*int64)(unsafe.Pointer(&h.shm[offParkedNs])), nanotime())
	h.setGate(gateParked)
	return h, nil
}

// spawnEnv is what every worker of a spawn inherits.
type spawnEnv struct {
	exe          string
	self         owner.ID // names the scratch files (scratchToken)
	devnull, shm *os.File
	cgDir        *os.File // Config.Cgroup's directory; nil without one
}

// spawnGroup starts the workers of composed group k (0: the primary),
// whose first worker has index first across all groups.
func (h *Handle) spawnGroup(env spawnEnv, k, first int, cfg Config, layout shmLayout) error {
	t := cfg.Work.Type()
	g := max(cfg.Work.GroupSize(), 1)
	if t.Scratch != nil {
		dirs, err := prepareScratch(t.Scratch(cfg.Work, scratchToken(env.self, first)))
		h.scratchDirs = append(h.scratchDirs, dirs...)
		if err != nil {
			return fmt.Errorf("spawn: scratch directory: %w", err)
		}
	}
	var ownDirs []string
	if t.Cgroups != nil {
		var err error
		if ownDirs, err = h.makeOwnGroups(cfg); err != nil {
			return err
		}
	}
	if t.Placement != nil {
		var err error
		if ownDirs, err = placementDirs(cfg, t.Placement); err != nil {
			return fmt.Errorf("spawn: %w", err) // the error names the type
		}
	}
	nodeCPUs, err := cfg.nodeCPUs()
	if err != nil {
		return err
	}
	wiring := groupWiring{work: cfg.Work}
	defer wiring.close()
	var hp *host
	if cfg.hosted() {
		hp = h.hostFor(cfg, layout.Size)
	}
	for j := range cfg.Workers {
		i := first + j
		spec := workerSpec{
			Index: i, GroupIdx: k, GroupFirst: first, GroupLen: cfg.Workers, Group: j / g, Pos: j % g, Work: cfg.Work,
			Warmup: cfg.Warmup, GateLimit: cmp.Or(cfg.gateLimit, startGateLimit),
			CPUs: drawCPUs(cfg.Affinity), Policy: cfg.Policy, MemPolicy: cfg.MemPolicy, Nice: cfg.Nice, Comm: cfg.Comm,
			ShmSize: layout.Size, Slot: layout.Slot(i), Region: layout.Region(j / g),
			Token:      scratchToken(env.self, i),
			CgroupDirs: ownDirs,
			UID:        cfg.UID, GID: cfg.GID, NodeCPUs: nodeCPUs,
		}
		extra, err := wiring.files(&spec)
		if err != nil {
			return fmt.Errorf("spawn worker %d: %w", i, err)
		}
		if cfg.hosted() {
			if err := hp.add(&spec, extra); err != nil {
				return err
			}
		} else if err := h.startChild(env.exe, env.devnull, env.shm, &spec, extra, env.cgDir); err != nil {
			return err
		}
		if spec.Pos == g-1 {
			if hp != nil { // the host inherits them when it starts
				hp.keep(wiring.ring...)
				hp.keep(wiring.shared...)
				wiring.ring, wiring.shared = nil, nil
			}
			// The parent never uses the pipes or group files: dropping its
			// copies lets a worker see EOF when its partner dies, and the
			// files close when the group's last worker exits.
			wiring.close()
		}
	}
	return nil
}

// mapShared creates the handle's shared memory of size bytes and maps it
// into the parent. The returned file is what workers inherit as fdShm; the
// caller closes it once they are started.
func (h *Handle) mapShared(size int) (*os.File, error) {
	memfd, err := unix.MemfdCreate("ktstar-shm", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("spawn: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(memfd), "ktstar-shm")
	if err := unix.Ftruncate(memfd, int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("spawn: size shared memory to %d bytes: %w", size, err)
	}
	if h.shm, err = unix.Mmap(memfd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		f.Close()
		return nil, fmt.Errorf("spawn: map shared memory (%d bytes): %w", size, err)
	}
	return f, nil
}

// groupWiring holds the files the workers of the group being started
// share: its ring of pipes (Type.Pipes) and its Type.GroupFiles.
type groupWiring struct {
	work   Work
	ring   []*os.File // read, write, read, write, …
	shared []*os.File
}

// files returns the extra files (from fdPipeR on) of the worker spec
// describes, and records in spec which it gets. At position 0 it makes the
// group's files.
func (gw *groupWiring) files(spec *workerSpec) ([]*os.File, error) {
	t := gw.work.Type()
	var extra []*os.File
	if n := 0; t.Pipes != nil {
		if n = t.Pipes(gw.work); n > 0 {
			if spec.Pos == 0 {
				var err error
				if gw.ring, err = makePipes(n); err != nil {
					return nil, err
				}
			}
			r, w := ringEnds(spec.Pos, n)
			spec.HasPipes = true
			extra = []*os.File{gw.ring[r], gw.ring[w]}
		}
	}
	if t.GroupFiles != nil {
		if spec.Pos == 0 {
			var err error
			if gw.shared, err = t.GroupFiles(gw.work); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
		}
		spec.GroupFiles = len(gw.shared)
		extra = append(extra, gw.shared...)
	}
	return extra, nil
}

// close drops the parent's copies of the group's files.
func (gw *groupWiring) close() {
	closeAll(gw.ring)
	closeAll(gw.shared)
	gw.ring, gw.shared = nil, nil
}

// ringEnds returns which of a group's n ring pipes (as makePipes lays
// them out) the member at pos reads and writes: it reads pipe (pos-1) mod
// n and writes pipe pos mod n, so a pair exchanges bytes both ways and a
// chain passes one around.
func ringEnds(pos, n int) (read, write int) { return 2 * ((pos + n - 1) % n), 2*(pos%n) + 1 }

// startChild creates one worker process with its spec and report pipe.
func (h *Handle) startChild(exe string, devnull, shm *os.File, spec *workerSpec, extra []*os.File, cgDir *os.File) error {
	i := spec.Index
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("spawn worker %d: encode spec: %w", i, err)
	}
	var files []*os.File
	defer func() { closeAll(files) }() // the child's ends, duplicated into it
	specR, specW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: pipe: %w", i, err)
	}
	files = append(files, specR)
	// A spec is a few hundred bytes, far below the pipe buffer: no deadlock.
	_, err = specW.Write(specJSON)
	specW.Close()
	if err != nil {
		return fmt.Errorf("spawn worker %d: send spec: %w", i, err)
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: pipe: %w", i, err)
	}
	files = append(files, reportW)

	attr := &os.ProcAttr{
		Env:   append(os.Environ(), workerEnv+"="+protoVersion, "GOMAXPROCS=1", "GOGC=off"),
		Files: append([]*os.File{devnull, os.Stderr, os.Stderr, specR, shm, reportW}, extra...),
		Sys:   baseSysProcAttr(),
	}
	proc, err := h.startProcess(exe, attr, cgDir, spec.CPUs)
	if err != nil {
		reportR.Close()
		return fmt.Errorf("spawn worker %d: start process: %w", i, err)
	}
	// SiblingPids reads it after the start gate.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&h.shm[spec.Slot+slotPid])), uint64(proc.Pid))
	c := &child{
		idx: i, groupIdx: spec.GroupIdx, group: spec.Group, proc: proc, report: reportR,
		parked: make(chan struct{}), released: make(chan struct{}), done: make(chan struct{}),
	}
	if t := spec.Work.Type(); t.Scratch != nil {
		c.scratch = t.Scratch(spec.Work, spec.Token)
	}
	h.children = append(h.children, c)
	go c.collect()
	return nil
}

// waitParked waits until every worker has parked at the start gate and
// fails naming the first one that did not: it timed out, said why with
// msgError, broke the protocol, or exited.
func (h *Handle) waitParked() error {
	deadline := time.NewTimer(parkLimit)
	defer deadline.Stop()
	for _, c := range h.children {
		select {
		case <-c.parked:
		case <-deadline.C:
			return fmt.Errorf("spawn worker %d: did not reach the start gate within %v", c.idx, parkLimit)
		}
		if c.fatal != "" {
			return fmt.Errorf("spawn worker %d: %s", c.idx, c.fatal)
		}
		select {
		case <-c.done:
			if c.fatal != "" {
				return fmt.Errorf("spawn worker %d: %s", c.idx, c.fatal)
			}
			return fmt.Errorf("spawn worker %d: exited before reaching the start gate (%s)", c.idx, describeExit(c))
		default:
		}
	}
	return nil
}

// stopMargin is how long a worker has to see the stop after its longest
// single sleep, which it cannot cut short.
const stopMargin = time.Second

// maxSleepMs bounds the millisecond sleep parameters (sleepMsParam) so
// that a worker asleep at the stop still reports within collectLimit.
const maxSleepMs = int64((collectLimit - stopMargin) / time.Millisecond)

// collectDeadline is the stop deadline for a work: collectLimit, or
// stopMargin longer than its longest configured sleep (duration and phase
// parameters, which are single calls).
func collectDeadline(w Work) time.Duration {
	d := collectLimit
	t := w.Type()
	for _, p := range t.Params {
		if sleep := p.Kind.spec().sleep; sleep != nil {
			v, _ := w.Arg(p.Name)
			d = max(d, sleep(v)+stopMargin)
		}
	}
	return d
}

func describeExit(c *child) string {
	if c.waitErr != nil {
		return c.waitErr.Error()
	}
	return c.state.String()
}

// drawCPUs resolves an affinity intent to one worker's mask (nil = inherit).
func drawCPUs(a Affinity) []int {
	switch a.Kind {
	case AffinityExact:
		return slices.Clone(a.CPUs)
	case AffinityRandomSubset:
		pool := slices.Clone(a.CPUs)
		rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		out := pool[:a.Count]
		slices.Sort(out)
		return out
	}
	return nil
}

// makePipes creates n pipes, returned as read, write, read, write, ….
func makePipes(n int) ([]*os.File, error) {
	fs := make([]*os.File, 0, 2*n)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(fs)
			return nil, fmt.Errorf("pipe: %w", err)
		}
		fs = append(fs, r, w)
	}
	return fs, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// spawnThread is a goroutine locked to one OS thread for the life of a
// handle. Workers are created from it because PR_SET_PDEATHSIG fires when
// the creating *thread* exits: a pool thread could be retired under a
// LockOSThread'd goroutine and take the workers with it.
type spawnThread struct {
	reqs chan func()
}

func newSpawnThread() *spawnThread {
	st := &spawnThread{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range st.reqs {
			f()
		}
		// Unlocked, the thread returns to the pool instead of exiting.
		runtime.UnlockOSThread()
	}()
	return st
}

// do runs f on the spawner thread and waits for it.
func (st *spawnThread) do(f func()) {
	done := make(chan struct{})
	st.reqs <- func() { f(); close(done) }
	<-done
}

func (st *spawnThread) close() { close(st.reqs) }
