package workload

import (
	"os"
	"testing"
)

// TestMain routes re-exec'd workers (this test binary is /proc/self/exe)
// into the worker entry hook before any test runs, and runs the spawner
// helper of TestParentDeathKillsWorkers when asked to.
func TestMain(m *testing.M) {
	Init()
	if os.Getenv(spawnerHelperEnv) != "" {
		spawnerHelper()
	}
	os.Exit(m.Run())
}
