package workload

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/cgroupfs"
)

// Admission: before Spawn forks anything, the tasks the
// spawn would create are checked against every limit that would otherwise
// stop it half-way, with thousands of workers already forked and Go
// runtimes crashing in the ones that could not make their threads.

// tasksPerWorker bounds the tasks (threads) one worker process holds. A
// worker's Go runtime with GOMAXPROCS=1 runs 6 (measured: the locked main
// thread, sysmon, the thread that takes the P while main blocks, and the
// runtime's helpers); 8 leaves room for a runtime that makes one more.
const tasksPerWorker = 8

// tasksPerThread bounds the tasks one worker thread of a thread host adds:
// its own, and the OS threads its host's Go runtime starts to hand Ps
// around its waits (measured: under 1.5 per worker thread for 2 to 128
// workers of SpinWait, FutexPingPong and PipeIo).
const tasksPerThread = 2

// DefaultMaxWorkers is the per-spawn ceiling on workers when
// Config.MaxWorkers is 0. It keeps a typo (workers = 100000) from filling
// the machine; `ktstar run --max-workers` raises it.
const DefaultMaxWorkers = 4096

// ErrAdmission is wrapped by the error of a spawn that admission refused:
// nothing was forked.
var ErrAdmission = errors.New("spawn refused before starting any worker")

// taskLimit is one limit on how many more tasks may be created: its name,
// how many it still allows, and what to change to allow more.
type taskLimit struct {
	name string
	free int64
	fix  string
}

// admit checks a spawn of the workers of every group against the
// per-spawn ceiling and the machine's limits, and names every limit it
// would break.
func (c *Config) admit() error {
	limits, err := machineLimits(c.Cgroup)
	if err != nil {
		return fmt.Errorf("spawn: admission: %w", err)
	}
	return admitTasks(c.TotalWorkers(), c.tasks(), c.MaxWorkers, limits)
}

// tasks is how many tasks (threads) the spawn may create: tasksPerWorker
// for each worker process and each thread host (its Go runtime's), and
// tasksPerThread for each worker that runs as a thread of a host. Every
// limit admission reads counts threads.
func (c *Config) tasks() int64 {
	hosts := map[string]bool{}
	var n int64
	for _, g := range c.groups() {
		if g.hosted() {
			n += int64(g.Workers) * tasksPerThread
			hosts[g.hostKey()] = true
		} else {
			n += int64(g.Workers) * tasksPerWorker
		}
	}
	return n + int64(len(hosts))*tasksPerWorker
}

// admitTasks is admission's arithmetic: workers workers needing need
// tasks, under a ceiling of maxWorkers (0: DefaultMaxWorkers) and the
// given limits.
func admitTasks(workers int, need int64, maxWorkers int, limits []taskLimit) error {
	if maxWorkers <= 0 {
		maxWorkers = DefaultMaxWorkers
	}
	var broken []string
	if workers > maxWorkers {
		broken = append(broken, fmt.Sprintf("the per-spawn ceiling is %d workers (raise it with ktstar run --max-workers, or Config.MaxWorkers)", maxWorkers))
	}
	for _, l := range limits {
		if need > l.free {
			broken = append(broken, fmt.Sprintf("%s allows %d more tasks (%s)", l.name, max(l.free, 0), l.fix))
		}
	}
	if len(broken) == 0 {
		return nil
	}
	return fmt.Errorf("%w: workers = %d needs up to %d tasks (%d per worker process or thread host, %d per worker thread):\n  %s",
		ErrAdmission, workers, need, tasksPerWorker, tasksPerThread, strings.Join(broken, "\n  "))
}

// machineLimits reads every limit on new tasks that applies to a spawn
// into cg (nil: the spawner's own groups).
func machineLimits(cg Cgroup) ([]taskLimit, error) {
	running, err := systemTasks()
	if err != nil {
		return nil, err
	}
	var out []taskLimit
	for _, k := range []struct{ name, file string }{
		{"kernel.pid_max", "/proc/sys/kernel/pid_max"},
		{"kernel.threads-max", "/proc/sys/kernel/threads-max"},
	} {
		v, err := readInt(k.file)
		if err != nil {
			return nil, err
		}
		out = append(out, taskLimit{
			name: fmt.Sprintf("%s = %d with %d tasks running", k.name, v, running),
			free: v - running,
			fix:  fmt.Sprintf("raise %s or spawn fewer workers", k.file),
		})
	}
	if l, ok, err := nprocLimit(); err != nil {
		return nil, err
	} else if ok {
		out = append(out, l)
	}
	for _, dir := range pidsDirs(cg) {
		out = append(out, pidsLimits(dir)...)
	}
	return out, nil
}

// systemTasks is the number of tasks on the machine: the second figure of
// /proc/loadavg's "running/total".
func systemTasks() (int64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: %q has no task count", b)
	}
	_, total, ok := strings.Cut(f[3], "/")
	n, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("/proc/loadavg: task count %q is not running/total", f[3])
	}
	return n, nil
}

// nprocLimit is RLIMIT_NPROC less the tasks this real uid already runs.
// The kernel does not apply it to root, so neither does admission.
func nprocLimit() (taskLimit, bool, error) {
	uid := os.Getuid()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &rl); err != nil {
		return taskLimit{}, false, fmt.Errorf("getrlimit(RLIMIT_NPROC): %w", err)
	}
	if uid == 0 || rl.Cur == unix.RLIM_INFINITY {
		return taskLimit{}, false, nil
	}
	used := userTasks(uid)
	return taskLimit{
		name: fmt.Sprintf("RLIMIT_NPROC = %d with %d tasks of uid %d running", rl.Cur, used, uid),
		free: int64(rl.Cur) - used,
		fix:  "raise it with ulimit -u or limits.conf, or spawn fewer workers",
	}, true, nil
}

// userTasks counts the threads of the processes whose real uid is uid.
func userTasks(uid int) int64 {
	ents, _ := os.ReadDir("/proc")
	var n int64
	want := strconv.Itoa(uid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		f, err := os.Open("/proc/" + e.Name() + "/status")
		if err != nil {
			continue // exited meanwhile
		}
		var mine bool
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "Uid":
				if fs := strings.Fields(v); len(fs) > 0 {
					mine = fs[0] == want
				}
			case "Threads":
				if t, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && mine {
					n += t
				}
			}
		}
		f.Close()
	}
	return n
}

// pidsDirs are the cgroup directories whose pids.max governs a spawn into
// cg: cg's own (v2), or without one the spawner's groups in the v2 and
// the v1 pids hierarchies.
func pidsDirs(cg Cgroup) []string {
	if cg != nil {
		if p, ok := cg.(interface{ Path() string }); ok {
			return []string{p.Path()}
		}
		return nil
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			if m, err := cgroupfs.FindMount(); err == nil {
				dirs = append(dirs, filepath.Join(m.Point, parts[2]))
			}
		case slices.Contains(strings.Split(parts[1], ","), "pids"):
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup/pids", parts[2]))
		}
	}
	return dirs
}

// pidsLimits walks from dir up through its ancestors: each group with a
// pids.max other than "max" limits the spawn to its headroom.
func pidsLimits(dir string) []taskLimit {
	var out []taskLimit
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "pids.max"))
		if err != nil {
			break // the hierarchy's root, or no pids controller here
		}
		if s := strings.TrimSpace(string(b)); s != "max" {
			lim, err1 := strconv.ParseInt(s, 10, 64)
			cur, err2 := readInt(filepath.Join(d, "pids.current"))
			if err1 == nil && err2 == nil {
				out = append(out, taskLimit{
					name: fmt.Sprintf("pids.max = %d of cgroup %s with %d tasks in it", lim, d, cur),
					free: lim - cur,
					fix:  fmt.Sprintf("raise %s/pids.max or spawn fewer workers", d),
				})
			}
		}
		if d == "/" {
			break
		}
	}
	return out
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}
