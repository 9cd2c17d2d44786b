package vm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
)

// Guest tests boot real QEMU guests under TCG (a few seconds each, more on
// a loaded host), so they run only with KTSTAR_GUEST_TESTS=1 (make
// test-guest). Their /init is testdata/guestinit, a stand-in for ktstar
// that calls GuestInit as PID 1 and performs simple actions as the run.

var guestInitBin string // built once by TestMain when guest tests run

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if os.Getenv(testenv.GuestEnv) != "" {
			dir, err := os.MkdirTemp("", "ktstar-vm-test-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			defer os.RemoveAll(dir)
			guestInitBin = filepath.Join(dir, "guestinit")
			cmd := exec.Command("go", "build", "-o", guestInitBin, "./testdata/guestinit")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build the guest init: %v\n%s", err, out)
				return 2
			}
		}
		return m.Run()
	}())
}

// guestOptions returns options for a small guest running action, or skips
// the test (with the reason) when guests cannot run here.
func guestOptions(t testing.TB, action ...string) (Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	testenv.NeedQEMU(t, DefaultQEMU)
	var log bytes.Buffer
	var k Kernel
	testenv.NeedGuestKernel(t, func() (err error) {
		k, err = DefaultKernel(context.Background(), &log)
		return err
	})
	if log.Len() > 0 {
		t.Log(log.String())
	}
	script := filepath.Join(t.TempDir(), "script.star")
	writeTree(t, filepath.Dir(script), map[string]string{"script.star": "print('hello')\n"})
	var stdout, stderr bytes.Buffer
	checkClean(t)
	return Options{
		Script: script, Init: guestInitBin, Kernel: k.Image, Modules: k.Modules,
		CPUs: 1, Memory: 512 << 20, Accel: AccelTCG, Timeout: 2 * time.Minute,
		Run:    RunArgs{Args: action},
		Stdout: &stdout, Stderr: &stderr, Log: &log,
	}, &stdout, &stderr
}

// checkClean registers a cleanup that fails the test if the guest left
// anything behind: a ktstar file in the temp directory, an open
// descriptor, or a child process (QEMU).
func checkClean(t testing.TB) {
	t.Helper()
	tmpBefore := ktstarTempFiles(t)
	fdsBefore := openFDs(t)
	t.Cleanup(func() {
		if after := ktstarTempFiles(t); len(after) > len(tmpBefore) {
			t.Errorf("temp files left behind: before %v, after %v", tmpBefore, after)
		}
		if after := openFDs(t); after > fdsBefore {
			t.Errorf("%d descriptors open after the guest, %d before", after, fdsBefore)
		}
		if kids := childPids(t); len(kids) > 0 {
			t.Errorf("child processes left running: %v", kids)
		}
	})
}

func ktstarTempFiles(t testing.TB) []string {
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "ktstar-disk-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// childPids lists live processes whose parent is this test.
func childPids(t testing.TB) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised comm: state ppid ...
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			kids = append(kids, pid)
		}
	}
	return kids
}

func TestGuestTopology(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Options)
		want []string
	}{
		{"4 cpus 2 nodes disk", func(o *Options) { o.CPUs, o.NUMA, o.Disk = 4, 2, 64<<20 },
			[]string{"cpus=4 nodes=2 smt=0;1;2;3 disk=67108864 script=15 guest_env=1", "controllers=cpuset cpu io memory"}},
		{"smt 2", func(o *Options) { o.CPUs, o.NUMA, o.SMT = 4, 2, 2 },
			[]string{"cpus=4 nodes=2 smt=0-1;2-3 disk=none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, stdout, stderr := guestOptions(t, "topology")
			tt.set(&o)
			code, err := Run(context.Background(), o)
			if err != nil || code != 0 {
				t.Fatalf("Run = %d, %v\nstderr: %s", code, err, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("guest printed %q, want %q", stdout, w)
				}
			}
		})
	}
}

// TestGuestLLCs checks what the guest kernel sees of Options.LLCs: QEMU
// gives each die its own L3 in CPUID leaf 4, so with two dies of two
// cores, CPU 2's L3 is shared with CPU 3 only.
func TestGuestLLCs(t *testing.T) {
	o, stdout, stderr := guestOptions(t, "cat", "/sys/devices/system/cpu/cpu2/cache/index3/shared_cpu_list")
	o.CPUs, o.LLCs = 4, 2
	code, err := Run(context.Background(), o)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v\nstderr: %s", code, err, stderr)
	}
	if got := strings.TrimSpace(stdout.String()); got != "2-3" {
		t.Errorf("cpu2's L3 shared_cpu_list = %q, want 2-3", got)
	}
}

func TestGuestExitCodes(t *testing.T) {
	for _, code := range []int{0, 1, 2} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			o, stdout, stderr := guestOptions(t, "exit", strconv.Itoa(code))
			got, err := Run(context.Background(), o)
			if err != nil || got != code {
				t.Fatalf("Run = %d, %v; want %d, nil", got, err, code)
			}
			if want := fmt.Sprintf("exiting with %d\n", code); stdout.String() != want {
				t.Errorf("stdout %q, want %q", stdout, want)
			}
			if want := fmt.Sprintf("to stderr before exit %d\n", code); stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
		})
	}
}

func TestGuestJSONResult(t *testing.T) {
	o, _, stderr := guestOptions(t, "json")
	o.Run.JSON = filepath.Join(t.TempDir(), "result.json")
	if code, err := Run(context.Background(), o); err != nil || code != 0 {
		t.Fatalf("Run = %d, %v\nstderr: %s", code, err, stderr)
	}
	b, err := os.ReadFile(o.Run.JSON)
	if err != nil || string(b) != `{"answer":42}` {
		t.Fatalf("--json file = %q, %v", b, err)
	}
}

// TestGuestOutputVolume pushes a large output through the data port and
// checks it arrives complete and in order.
func TestGuestOutputVolume(t *testing.T) {
	const n = 1 << 20
	o, stdout, stderr := guestOptions(t, "spam", strconv.Itoa(n))
	start := time.Now()
	if code, err := Run(context.Background(), o); err != nil || code != 0 {
		t.Fatalf("Run = %d, %v\nstderr: %s", code, err, stderr)
	}
	line := strings.Repeat("x", 99) + "\n"
	want := strings.Repeat(line, n/len(line)) + line[:n%len(line)]
	if stdout.String() != want {
		t.Fatalf("got %d bytes of output, want %d", stdout.Len(), n)
	}
	t.Logf("1 MiB of output in %v (including boot)", time.Since(start))
}

// TestGuestBootTimeout: a guest that has not started its run within
// BootTimeout is killed with ErrBootTimeout, an ErrTimeout that says
// nothing of the script ran. No TCG guest starts its run in 300 ms.
func TestGuestBootTimeout(t *testing.T) {
	o, _, _ := guestOptions(t, "hang")
	o.BootTimeout = 300 * time.Millisecond
	code, err := Run(context.Background(), o)
	if code != 2 || !errors.Is(err, ErrBootTimeout) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %d, %v; want 2 and ErrBootTimeout", code, err)
	}
	if !strings.Contains(err.Error(), "the guest did not start its run within the boot timeout 300ms: QEMU killed") {
		t.Errorf("error %q does not name the boot timeout", err)
	}
}

// TestGuestTimeout: a run that does not stop at its --timeout (the stand-in
// ignores it) is killed StopGrace later, and the user sees why.
func TestGuestTimeout(t *testing.T) {
	o, stdout, _ := guestOptions(t, "hang")
	o.Timeout, o.StopGrace = 10*time.Second, 5*time.Second
	code, err := Run(context.Background(), o)
	var ge *GuestError
	if code != 2 || !errors.Is(err, ErrTimeout) || errors.Is(err, ErrBootTimeout) || !errors.As(err, &ge) {
		t.Fatalf("Run = %d, %v; want 2 and ErrTimeout, not ErrBootTimeout", code, err)
	}
	t.Logf("the user sees:\n%v", err)
	if !strings.Contains(err.Error(), "the guest's run did not stop within 5s of its --timeout 10s: QEMU killed") {
		t.Errorf("error %q does not name the timeout", err)
	}
	if len(ge.Console) == 0 || !strings.Contains(err.Error(), "last ") {
		t.Errorf("error %q shows no console lines", err)
	}
	// The run got as far as its first line: the timeout hit a hang, not a
	// slow boot.
	if !strings.Contains(stdout.String(), "hanging") {
		t.Errorf("stdout %q: the guest never started the run", stdout)
	}
}

func TestGuestKernelPanic(t *testing.T) {
	o, _, _ := guestOptions(t, "exit", "0")
	o.Append = "KTSTARTEST_INIT_EXITS=1"
	code, err := Run(context.Background(), o)
	if code != 2 || !errors.Is(err, ErrPanic) {
		t.Fatalf("Run = %d, %v; want 2 and ErrPanic", code, err)
	}
	t.Logf("the user sees:\n%v", err)
	if !strings.Contains(err.Error(), "Attempted to kill init") {
		t.Errorf("error %q does not quote the panic", err)
	}
}

// TestGuestAccelAuto checks that auto either boots with KVM or falls back
// to TCG and says so (on hosts where a nested KVM guest hangs), and that a
// failed probe is remembered so the next run skips it.
func TestGuestAccelAuto(t *testing.T) {
	o, stdout, _ := guestOptions(t, "exit", "0")
	if err := kvmUsable(); err != nil {
		t.Skipf("no KVM to probe: %v", err)
	}
	// A probe record of our own (the kernel is already given explicitly).
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var log bytes.Buffer
	o.Accel, o.ProbeTimeout, o.Log = AccelAuto, 3*time.Second, &log
	code, err := Run(context.Background(), o)
	if err != nil || code != 0 || stdout.String() != "exiting with 0\n" {
		t.Fatalf("Run = %d, %v, stdout %q", code, err, stdout)
	}
	t.Logf("accelerator log: %q", log.String())
	if !strings.Contains(log.String(), "falling back to TCG") {
		return // KVM booted the guest
	}
	log.Reset()
	stdout.Reset()
	if code, err := Run(context.Background(), o); err != nil || code != 0 {
		t.Fatalf("second Run = %d, %v", code, err)
	}
	// Quietly TCG: the first run said so. Had it probed, KVM would have
	// failed again ("falling back") or booted and dropped the record.
	if log.Len() > 0 {
		t.Errorf("the second run printed %q, want nothing (the first run's note is enough)", log.String())
	}
	qemu, err := exec.LookPath(cmp.Or(o.QEMU, DefaultQEMU)) // the record is keyed by the path Run found
	if err != nil {
		t.Fatal(err)
	}
	if _, failed := newKVMProbe(qemu).failed(); !failed {
		t.Error("the second run probed again: the failure record is gone")
	}
}

// TestGuestCancel checks that cancelling the context (SIGINT in the
// command) stops the guest and cleans up.
func TestGuestCancel(t *testing.T) {
	o, _, _ := guestOptions(t, "hang")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Stdout = writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "hanging") {
			cancel()
		}
		return len(p), nil
	})
	code, err := Run(ctx, o)
	if code != 2 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %d, %v; want 2 and context.Canceled", code, err)
	}
}

// signalOn returns a writer for o.Stdout that sends sigs, in order, on the
// returned channel (o.Signals) once the run has printed line.
func signalOn(line string, sigs ...syscall.Signal) (io.Writer, chan os.Signal) {
	c := make(chan os.Signal, len(sigs))
	var once sync.Once
	return writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), line) {
			once.Do(func() {
				for _, s := range sigs {
					c <- s
				}
			})
		}
		return len(p), nil
	}), c
}

// TestGuestSignalForwarded: a host signal reaches the running script,
// which ends as it chooses, and its exit code and --json come back.
func TestGuestSignalForwarded(t *testing.T) {
	o, _, stderr := guestOptions(t, "trap")
	o.Run.JSON = filepath.Join(t.TempDir(), "out.json")
	var out bytes.Buffer
	w, sigs := signalOn("trapping", syscall.SIGTERM)
	o.Stdout, o.Signals = io.MultiWriter(&out, w), sigs
	code, err := Run(context.Background(), o)
	if err != nil || code != 143 {
		t.Fatalf("Run = %d, %v; want 143 (the run's own exit after SIGTERM)\nstderr: %s", code, err, stderr)
	}
	if !strings.Contains(out.String(), "caught terminated") {
		t.Errorf("stdout %q: the run did not catch SIGTERM", out.String())
	}
	if b, err := os.ReadFile(o.Run.JSON); err != nil || string(b) != `{"caught":15}` {
		t.Errorf("--json %q, %v; want the run's result", b, err)
	}
}

// TestGuestSignalFallback: a run that does not stop after a forwarded
// signal, or a second signal, has QEMU killed, with the reason and 128+n.
func TestGuestSignalFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		sigs []syscall.Signal
		code int
		want string
	}{
		{"unanswered", []syscall.Signal{syscall.SIGINT}, 130, "the guest's run did not stop within 3s of SIGINT: QEMU killed, the run's results are lost"},
		{"second signal", []syscall.Signal{syscall.SIGINT, syscall.SIGHUP}, 129, "a second signal (SIGHUP) while the guest's run was stopping after SIGINT: QEMU killed, the run's results are lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := guestOptions(t, "deaf")
			o.StopGrace = 3 * time.Second
			if len(tc.sigs) > 1 {
				o.StopGrace = 5 * time.Minute // only the second signal can end it in time
			}
			o.Stdout, o.Signals = signalOn("deaf", tc.sigs...)
			code, err := Run(context.Background(), o)
			if code != tc.code || !errors.Is(err, ErrInterrupted) {
				t.Fatalf("Run = %d, %v; want %d and ErrInterrupted", code, err, tc.code)
			}
			t.Logf("the user sees:\n%v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// TestGuestSignalBeforeRun: a signal before the run starts kills the
// guest at once: there is nothing to collect.
func TestGuestSignalBeforeRun(t *testing.T) {
	o, stdout, _ := guestOptions(t, "exit", "0")
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	o.Signals = sigs
	start := time.Now()
	code, err := Run(context.Background(), o)
	if code != 143 || !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "nothing to collect") {
		t.Fatalf("Run = %d, %v; want 143 and ErrInterrupted with nothing to collect", code, err)
	}
	if stdout.Len() > 0 {
		t.Errorf("the run started (stdout %q)", stdout)
	}
	t.Logf("the user sees after %v:\n%v", time.Since(start), err)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkGuestEmptyRun measures the overhead of a guest run whose script
// prints one line and exits: time to that first line and to Run's return,
// under TCG.
func BenchmarkGuestEmptyRun(b *testing.B) {
	for _, shape := range []struct {
		name       string
		cpus, numa int
	}{{"1cpu", 1, 0}, {"4cpu-2node", 4, 2}} {
		b.Run(shape.name, func(b *testing.B) {
			var first, total time.Duration
			for range b.N {
				o, _, _ := guestOptions(b, "exit", "0")
				o.CPUs, o.NUMA = shape.cpus, shape.numa
				if shape.numa > 0 {
					o.Memory = 1 << 30
				}
				start := time.Now()
				var once sync.Once
				o.Stdout = writerFunc(func(p []byte) (int, error) {
					once.Do(func() { first += time.Since(start) })
					return len(p), nil
				})
				if code, err := Run(context.Background(), o); err != nil || code != 0 {
					b.Fatalf("Run = %d, %v", code, err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(first.Seconds()/float64(b.N), "s/first-line")
			b.ReportMetric(total.Seconds()/float64(b.N), "s/run")
		})
	}
}
