package testenv

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// GuestEnv turns guest tests on when set to a non-empty value (make
// test-guest sets it): they boot QEMU guests, slow under TCG.
const GuestEnv = "KTSTAR_GUEST_TESTS"

// GuestBootTimeout is a guest test's boot timeout: guests boot in
// seconds, even on a loaded host, so one not running its test by then
// hung (a rare TCG boot hang, seen in CI) and is booted once more.
const GuestBootTimeout = 2 * time.Minute

// QEMU is the emulator guest tests run.
const QEMU = "qemu-system-x86_64"

// NeedQEMU skips t unless qemu is on PATH and guest tests are on
// (GuestEnv); qemu "" means QEMU. A missing QEMU is named first, so the
// skip says what to install; under RequireToolsEnv it fails only when
// guest tests are on.
func NeedQEMU(t testing.TB, qemu string) {
	t.Helper()
	if qemu == "" {
		qemu = QEMU
	}
	_, err := exec.LookPath(qemu)
	switch on := os.Getenv(GuestEnv) != ""; {
	case err != nil && on:
		MissingTool(t, "guest test: %s not installed (bash vm/deps.sh installs it)", qemu)
	case err != nil:
		skipf(t, "guest test: %s not installed (bash vm/deps.sh installs it; make test-guest runs these)", qemu)
	case !on:
		skipf(t, "guest test: set %s=1 (make test-guest) to boot QEMU guests", GuestEnv)
	}
}

// NeedGuestKernel skips t when find, the caller's kernel lookup (vm's
// DefaultKernel, which testenv cannot import), reports an error.
func NeedGuestKernel(t testing.TB, find func() error) {
	t.Helper()
	if err := find(); err != nil {
		MissingTool(t, "guest test: no kernel: %v", err)
	}
}

// Chromium names Debian's browser binary and the names it has elsewhere.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// NeedChromium returns the path of a Chromium (headless browser tests of
// HTML output), or skips t (fails it under RequireToolsEnv).
func NeedChromium(t testing.TB) string {
	t.Helper()
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	MissingTool(t, "no chromium on PATH (looked for %v; Debian: apt-get install chromium)", chromiumNames)
	return ""
}

// NeedCC skips t unless gcc is on PATH (cgo builds, C reference
// programs), or fails it under RequireToolsEnv.
func NeedCC(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		MissingTool(t, "no gcc on PATH (Debian: apt-get install gcc)")
	}
}
