package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ktstar/ktstar/topo"
)

// Topology reads the sysfs fixture tree topo/testdata/<name> (see its
// README), failing the test if it does not read cleanly.
func Topology(t testing.TB, name string) *topo.Topology {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "topo", "testdata", name)
	tp, err := topo.Read(os.DirFS(dir))
	if err != nil {
		t.Fatalf("topology fixture %s: %v", name, err)
	}
	if len(tp.Warnings) > 0 {
		t.Fatalf("topology fixture %s: unexpected warnings %q", name, tp.Warnings)
	}
	return tp
}
