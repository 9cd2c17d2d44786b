package workload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/vm/vmtest"
)

// TestAdmitTasks checks admission's arithmetic: each broken limit is
// named with its figure and what to change, and a spawn within every
// limit passes.
func TestAdmitTasks(t *testing.T) {
	pidMax := taskLimit{name: "kernel.pid_max = 100 with 20 tasks running", free: 80, fix: "raise /proc/sys/kernel/pid_max"}
	tests := []struct {
		workers, max int
		limits       []taskLimit
		want         []string // substrings of the error; nil: admitted
	}{
		{10, 0, []taskLimit{pidMax}, nil},
		{11, 0, []taskLimit{pidMax}, []string{"workers = 11 needs up to 88 tasks", "kernel.pid_max = 100 with 20 tasks running allows 80 more tasks (raise /proc/sys/kernel/pid_max)"}},
		{DefaultMaxWorkers + 1, 0, nil, []string{fmt.Sprintf("the per-spawn ceiling is %d workers (raise it with ktstar run --max-workers", DefaultMaxWorkers)}},
		{3, 2, nil, []string{"the per-spawn ceiling is 2 workers"}},
		{DefaultMaxWorkers + 1, DefaultMaxWorkers + 1, nil, nil},
		{1, 0, []taskLimit{{name: "pids.max = 4 of cgroup /x with 9 tasks in it", free: -5, fix: "raise /x/pids.max"}}, []string{"allows 0 more tasks"}},
	}
	for _, tc := range tests {
		err := admitTasks(tc.workers, int64(tc.workers)*tasksPerWorker, tc.max, tc.limits)
		if tc.want == nil {
			if err != nil {
				t.Errorf("workers %d, max %d: %v", tc.workers, tc.max, err)
			}
			continue
		}
		if !errors.Is(err, ErrAdmission) {
			t.Errorf("workers %d, max %d: err = %v, want ErrAdmission", tc.workers, tc.max, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("workers %d, max %d: error %q lacks %q", tc.workers, tc.max, err, w)
			}
		}
	}
}

// TestTasksPerWorkerCoversAWorker checks admission's per-worker estimate
// against a real worker: a running worker process holds at most
// tasksPerWorker threads.
func TestTasksPerWorkerCoversAWorker(t *testing.T) {
	h := spawnWork(t, Config{Workers: 2, Work: MustWork("FutexPingPong", nil)})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, h, 100)
	if n := len(taskIDs(t, h.Pids()[0])); n > tasksPerWorker {
		t.Errorf("a running worker holds %d threads, admission assumes at most %d", n, tasksPerWorker)
	}
	stopWork(t, h)
}

// TestMaxWorkersCeiling spawns at and over a raised ceiling: the ceiling
// is what refuses, naming itself, and the same request fits once raised.
func TestMaxWorkersCeiling(t *testing.T) {
	leakCheck(t)
	_, err := Spawn(Config{Workers: 3, MaxWorkers: 2})
	if !errors.Is(err, ErrAdmission) || !strings.Contains(err.Error(), "the per-spawn ceiling is 2 workers") {
		t.Fatalf("3 workers over a ceiling of 2: err = %v", err)
	}
	stopWork(t, spawnWork(t, Config{Workers: 3, MaxWorkers: 3}))
}

const (
	admitChildEnv = "KTSTAR_TEST_ADMIT_CHILD"
	// admitNprocEnv, in the child of TestAdmissionRLimitNproc, is the
	// RLIMIT_NPROC it sets on itself before spawning.
	admitNprocEnv = "KTSTAR_TEST_ADMIT_NPROC"
)

// admitChild is the child side of the admission tests: it spawns workers,
// then prints how long the refusal took, the PID namespace's last pid,
// its own thread count and the error, for admitInChild to read.
func admitChild(t *testing.T, workers int) {
	t0 := time.Now()
	_, err := Spawn(Config{Workers: workers})
	took := time.Since(t0)
	last, lerr := readInt("/proc/sys/kernel/ns_last_pid")
	threads, terr := os.ReadDir("/proc/self/task")
	if lerr != nil || terr != nil {
		t.Fatal(lerr, terr)
	}
	fmt.Printf("admission: took=%dus last_pid=%d threads=%d\nerror: %v\n", took.Microseconds(), last, len(threads), err)
}

// admitInChild runs the test named run again as cmd, in a PID namespace
// of its own, where pids are handed out from 1 in order: the namespace's
// last pid equals the child's own thread count exactly when nothing else
// (no worker) was ever created there. It returns the child's output and
// fails t if the spawn created any task.
func admitInChild(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace (CLONE_NEWPID)")
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWPID
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var took, last, threads int
	i := strings.Index(string(out), "admission:")
	if i < 0 {
		t.Fatalf("child printed no result:\n%s", out)
	}
	if _, err := fmt.Sscanf(string(out[i:]), "admission: took=%dus last_pid=%d threads=%d", &took, &last, &threads); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	t.Logf("refused in %d µs", took)
	if last != threads {
		t.Errorf("the namespace handed out %d pids, the spawner holds %d threads: %d other tasks were created", last, threads, last-threads)
	}
	return string(out)
}

// TestAdmissionRefusesBeforeFork spawns workers = 100000 and counts the
// processes created: none.
func TestAdmissionRefusesBeforeFork(t *testing.T) {
	if os.Getenv(admitChildEnv) != "" {
		admitChild(t, 100000)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdmissionRefusesBeforeFork$", "-test.count=1")
	cmd.Env = append(os.Environ(), admitChildEnv+"=1")
	out := admitInChild(t, cmd)
	// 800000 tasks are beyond kernel.pid_max or kernel.threads-max of any
	// machine this runs on (a PID namespace may have a pid_max of its own).
	if !strings.Contains(out, "more tasks (raise /proc/sys/kernel/") {
		t.Errorf("refusal names no kernel limit:\n%s", out)
	}
	for _, want := range []string{"spawn refused before starting any worker", "workers = 100000 needs up to 800000 tasks", "the per-spawn ceiling is 4096 workers"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal lacks %q:\n%s", want, out)
		}
	}
}

// TestAdmissionRLimitNproc applies RLIMIT_NPROC for real, which root is
// exempt from: the test binary runs again as nobody (uid and gid 65534,
// set by the kernel before exec, from a copy of the binary that uid can
// read), lowers its own RLIMIT_NPROC as `ulimit -u` before ktstar would,
// to what uid 65534 already runs plus 48, and spawns 10 workers (up to 80
// tasks): refused, naming RLIMIT_NPROC with its figures and what to
// change, and no task created (counted in a PID namespace, as above).
// RLIMIT_NPROC is the only limit broken, so without its check the spawn
// would fork until the kernel's EAGAIN. Two workers then fit, and run to
// their reports under that limit.
func TestAdmissionRLimitNproc(t *testing.T) {
	const uid, workers, headroom = 65534, 10, 48
	if lim := os.Getenv(admitNprocEnv); lim != "" {
		n, err := strconv.ParseUint(lim, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			t.Fatal(err)
		}
		admitChild(t, workers)
		stopWork(t, spawnWork(t, Config{Workers: 2}))
		fmt.Println("fitting spawn: 2 reports")
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as uid 65534 in a PID namespace")
	}
	// The copy: go test's build directory is private to its user.
	dir, err := os.MkdirTemp("", "ktstar-admit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "workload.test")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	limit := userTasks(uid) + headroom
	cmd := exec.Command(exe, "-test.run=^TestAdmissionRLimitNproc$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", admitNprocEnv, limit))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out := admitInChild(t, cmd)
	for _, want := range []string{
		"spawn refused before starting any worker",
		fmt.Sprintf("workers = %d needs up to %d tasks", workers, workers*tasksPerWorker),
		fmt.Sprintf("RLIMIT_NPROC = %d with ", limit),
		fmt.Sprintf(" tasks of uid %d running allows ", uid),
		"more tasks (raise it with ulimit -u or limits.conf, or spawn fewer workers)",
		"fitting spawn: 2 reports",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kernel.") || strings.Contains(out, "pids.max") || strings.Contains(out, "per-spawn ceiling") {
		t.Errorf("a limit other than RLIMIT_NPROC refused the spawn:\n%s", out)
	}
}

// TestGuestAdmissionPidsMax refuses spawns into a cgroup with pids.max =
// 50, naming that group's limit, and creates no task in it; a spawn that
// fits still runs there.
func TestGuestAdmissionPidsMax(t *testing.T) {
	if vmtest.OnHost(t, vm.Options{CPUs: 2}) {
		return
	}
	leakCheck(t)
	cg := testSetGroup(t, "pids", "admit", "pids.max", "50")
	for _, workers := range []int{100000, 7} {
		t0 := time.Now()
		_, err := Spawn(Config{Workers: workers, Cgroup: cg})
		t.Logf("workers = %d refused in %v", workers, time.Since(t0))
		want := fmt.Sprintf("pids.max = 50 of cgroup %s with 0 tasks in it allows 50 more tasks", cg.Path())
		if !errors.Is(err, ErrAdmission) || !strings.Contains(err.Error(), want) {
			t.Errorf("workers = %d: err = %v, want one naming %q", workers, err, want)
		}
		events, _ := os.ReadFile(filepath.Join(cg.Path(), "pids.events"))
		if !strings.Contains(string(events), "max 0") {
			t.Errorf("workers = %d: a fork hit pids.max: pids.events %q", workers, events)
		}
		// pids.peak (Linux 6.13+) proves no task ever entered the group.
		if peak, err := readInt(filepath.Join(cg.Path(), "pids.peak")); err == nil && peak != 0 {
			t.Errorf("workers = %d: pids.peak = %d, want 0", workers, peak)
		}
	}
	stopWork(t, spawnWork(t, Config{Workers: 6, Cgroup: cg}))
}
