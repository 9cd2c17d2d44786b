// Package golden compares a test's output with a golden file in testdata,
// or, when the test binary runs with -update, rewrites the file with it.
// It is the one -update flag and comparison the golden tests of every
// package share.
package golden

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them")

// Check fails t when got differs from the file at path. With -update it
// writes got to path first, so the comparison passes and the diff shows
// in version control.
func Check(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s (go test -update rewrites it):\n%s\nwant:\n%s", path, got, want)
	}
}
