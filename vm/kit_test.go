package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelSchedExtKit: --kernel sched-ext-kit boots the test bed's
// bzImage once make sched-ext-kit has finished, and before that fails
// saying how to build it (a half-built directory included).
func TestKernelSchedExtKit(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(SchedExtKitEnv, dir)
	o := Options{Kernel: SchedExtKitName}
	if err := os.WriteFile(filepath.Join(dir, "bzImage"), []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := o.kernel(context.Background())
	if !errors.Is(err, ErrNoKernel) || !strings.Contains(err.Error(), "build it with make sched-ext-kit") {
		t.Fatalf("unfinished test bed: %v, want ErrNoKernel naming make sched-ext-kit", err)
	}
	if err := os.WriteFile(filepath.Join(dir, completeMark), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := o.kernel(context.Background())
	if err != nil || k.Image != filepath.Join(dir, "bzImage") || k.Modules != "" {
		t.Fatalf("kernel = %+v, %v; want %s/bzImage and no modules", k, err, dir)
	}
}

// TestAccelArg: only the test bed's kernel under TCG runs single-threaded.
func TestAccelArg(t *testing.T) {
	for _, tc := range []struct{ accel, kernel, want string }{
		{AccelTCG, SchedExtKitName, "tcg,thread=single"},
		{AccelTCG, "", AccelTCG},
		{AccelTCG, "/boot/bzImage", AccelTCG},
		{AccelKVM, SchedExtKitName, AccelKVM},
	} {
		if got := accelArg(tc.accel, tc.kernel); got != tc.want {
			t.Errorf("accelArg(%q, %q) = %q, want %q", tc.accel, tc.kernel, got, tc.want)
		}
	}
}
