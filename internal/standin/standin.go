// Package standin builds the stand-in scheduler of ktstar's tests
// (src/standin.c): a small program that stays up printing lines until SIGINT,
// or exits after --exit-after=D, for tests of scheduler handling on
// kernels without sched_ext. Built with gcc, it is dynamically linked, so
// guest tests also carry its libraries into the guest.
package standin

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
)

//go:embed src/standin.c
var source []byte

// Build compiles the stand-in into t's temp directory and returns its
// path; it skips t without gcc.
func Build(t testing.TB) string {
	t.Helper()
	testenv.NeedCC(t)
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "standin.c"), filepath.Join(dir, "stand-in")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc stand-in: %v\n%s", err, out)
	}
	return bin
}
