package layers

import (
	"go/build"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ktstar/ktstar/"

// imports returns the non-test imports of the package in dir (relative to
// the module root).
func imports(t *testing.T, root, dir string) []string {
	t.Helper()
	p, err := build.ImportDir(filepath.Join(root, dir), 0)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return p.Imports
}

func TestImportRules(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	// may lists, per package, the ktstar packages it may import; no
	// package listed here may import go.starlark.net unless starlark says so.
	for _, tc := range []struct {
		dir      string
		may      []string
		starlark bool
	}{
		{"engine", []string{"stdlib", "internal/clip"}, true},
		{"starlib", []string{"workload", "topo", "cgroupfs", "checks", "stats", "hist", "scheduler", "internal/cpulist"}, true},
		{"summary", []string{"checks", "workload", "stats", "hist"}, false},
		{"result", []string{"starlib", "summary", "scheduler", "hist", "stats"}, false},
		{"compare", []string{"result", "summary", "checks", "workload", "gauntlet"}, false},
		{"report", []string{"result", "compare", "summary", "checks", "hist", "workload"}, false},
		{"checks", []string{"workload", "stats", "hist"}, false},
		{"workload", []string{"topo", "cgroupfs", "hist", "internal/kernfs", "internal/cpulist", "internal/owner", "internal/clip"}, false},
		{"cgroupfs", []string{"internal/kernfs", "internal/cpulist", "internal/owner"}, false},
		{"topo", []string{"internal/cpulist"}, false},
		{"stats", nil, false},
		{"hist", nil, false},
		{"progress", nil, false},
		{"vm", nil, false},
		{"gauntlet", []string{"vm", "checks"}, false},
		{"scheduler", nil, false},
		{"internal/kernfs", nil, false},
		{"internal/cpulist", nil, false},
		{"internal/owner", nil, false},
		{"internal/clip", nil, false},
	} {
		for _, imp := range imports(t, root, tc.dir) {
			if strings.HasPrefix(imp, "go.starlark.net/") && !tc.starlark {
				t.Errorf("%s imports %s: it is a plain Go package", tc.dir, imp)
			}
			if own, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(tc.may, own) {
				t.Errorf("%s imports %s, against the layout (allowed: %v)", tc.dir, own, tc.may)
			}
		}
	}
}
