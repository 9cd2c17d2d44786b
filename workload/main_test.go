package workload

import (
	"os"
	"testing"

	"github.com/ktstar/ktstar/vm/vmtest"
)

// TestMain routes re-exec'd workers (this test binary is /proc/self/exe)
// into the worker entry hook before any test runs, makes the binary a
// guest's init under vmtest, and runs the spawner helper of
// TestParentDeathKillsWorkers or a fake worker (protocol_test.go) when
// asked to.
func TestMain(m *testing.M) {
	if say := os.Getenv(fakeWorkerEnv); say != "" && os.Getenv(workerEnv) != "" {
		fakeWorker(say)
	}
	Init()
	vmtest.Init() // PID 1 of a guest (guest_test.go): never returns
	if os.Getenv(spawnerHelperEnv) != "" {
		spawnerHelper()
	}
	os.Exit(m.Run())
}
