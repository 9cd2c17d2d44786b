package workload

import (
	"os"
	"testing"
)

// TestMain routes re-exec'd workers (this test binary is /proc/self/exe)
// into the worker entry hook before any test runs.
func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}
