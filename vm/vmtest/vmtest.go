// Package vmtest runs Go tests inside throwaway QEMU guests, for tests
// that need what a host may lack: a pure cgroup v2 hierarchy with every
// controller, several NUMA nodes, SMT siblings, a scratch disk.
//
// The test binary itself becomes the guest's /init and runs the one test
// again inside the guest:
//
//	func TestMain(m *testing.M) {
//		workload.Init()
//		vmtest.Init() // PID 1 of a guest: never returns
//		os.Exit(m.Run())
//	}
//
//	func TestGuestCpusets(t *testing.T) {
//		if vmtest.OnHost(t, vm.Options{CPUs: 4, NUMA: 2}) {
//			return // the guest ran this test and passed
//		}
//		// runs inside the guest, as root, with /sys/fs/cgroup all ours
//	}
//
// Guest tests run only when KTSTAR_GUEST_TESTS is set (make test-guest)
// and skip, saying why, without QEMU or a kernel. Name them TestGuest* so
// that target selects them. The test binary must be static (it is unless
// something links cgo; make test-guest builds with CGO_ENABLED=0).
package vmtest

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
	"github.com/ktstar/ktstar/vm"
)

// Env enables guest tests when set to a non-empty value.
const Env = testenv.GuestEnv

// AccelEnv, if set, overrides the accelerator (default tcg: the KVM probe
// costs seconds per test where nested KVM hangs).
const AccelEnv = "KTSTAR_GUEST_ACCEL"

// Init makes the test binary a guest init when it runs as one (PID 1 with
// the guest configuration); otherwise it returns at once. Call it early in
// TestMain.
func Init() {
	if vm.IsGuestInit() {
		vm.GuestInit()
	}
}

// InGuest reports whether this process runs inside a vm guest.
func InGuest() bool { return os.Getenv(vm.GuestEnv) != "" }

// OnHost runs the calling test inside a guest shaped by o and reports
// true, or, inside that guest, reports false so the test body runs. On the
// host the guest's output goes to t.Log, and a guest failure or a failed
// test inside it fails t. It skips t when guest tests are off or QEMU or a
// kernel is missing. Zero fields of o get small defaults (1 GiB, TCG, a
// 5 minute timeout, a 2 minute boot timeout); Init and Command are set by
// OnHost. A guest that has not started the test by its boot timeout
// boots once more.
func OnHost(t *testing.T, o vm.Options) bool {
	t.Helper()
	if InGuest() {
		return false
	}
	testenv.NeedQEMU(t, o.QEMU)
	w := &logWriter{t: t}
	if o.Kernel == "" {
		testenv.NeedGuestKernel(t, func() error {
			k, err := vm.DefaultKernel(context.Background(), w)
			o.Kernel, o.Modules = k.Image, k.Modules
			return err
		})
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o.Init = exe
	o.Command = []string{"-test.run=" + runPattern(t.Name()), "-test.v", "-test.count=1"}
	if o.Accel == "" {
		o.Accel = vm.AccelTCG
		if a := os.Getenv(AccelEnv); a != "" {
			o.Accel = a
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = testenv.GuestBootTimeout
	}
	o.Stdout, o.Stderr, o.Log = w, w, w
	code, err := vm.Run(context.Background(), o)
	w.flush()
	if errors.Is(err, vm.ErrBootTimeout) {
		// A TCG guest can hang in its boot (rarely; seen in CI), before
		// any of the test ran: that says nothing of the test, so it
		// boots once more.
		t.Logf("guest: %v\nbooting once more", err)
		code, err = vm.Run(context.Background(), o)
		w.flush()
	}
	if err != nil {
		t.Fatalf("guest: %v", err)
	}
	if code != 0 {
		t.Fatalf("the test failed inside the guest (exit code %d; its output is above)", code)
	}
	return true
}

// runPattern selects exactly the named (sub)test: -test.run splits on
// slashes and matches each level separately.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// logWriter passes whole lines of guest output to t.Log.
type logWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log("guest| " + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log("guest| " + string(w.buf))
		w.buf = nil
	}
}
