package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// GuestEnv turns guest tests on when set to a non-empty value (make
// test-guest sets it): they boot QEMU guests, slow under TCG.
const GuestEnv = "KTSTAR_GUEST_TESTS"

// QEMU is the emulator guest tests run.
const QEMU = "qemu-system-x86_64"

// NeedQEMU skips t unless guest tests are on (GuestEnv) and qemu is on
// PATH; qemu "" means QEMU.
func NeedQEMU(t testing.TB, qemu string) {
	t.Helper()
	if qemu == "" {
		qemu = QEMU
	}
	if os.Getenv(GuestEnv) == "" {
		skipf(t, "guest test: set %s=1 (make test-guest) to boot QEMU guests", GuestEnv)
	}
	if _, err := exec.LookPath(qemu); err != nil {
		skipf(t, "guest test: %s not installed (bash vm/deps.sh installs it)", qemu)
	}
}

// NeedGuestKernel skips t when find, the caller's kernel lookup (vm's
// DefaultKernel, which testenv cannot import), reports an error.
func NeedGuestKernel(t testing.TB, find func() error) {
	t.Helper()
	if err := find(); err != nil {
		skipf(t, "guest test: no kernel: %v", err)
	}
}
