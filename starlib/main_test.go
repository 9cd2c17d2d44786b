package starlib_test

import (
	"os"
	"testing"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/vm/vmtest"
	"github.com/ktstar/ktstar/workload"
)

// TestMain routes re-exec'd workers (this test binary is /proc/self/exe)
// into the worker entry hook before any test runs.
func TestMain(m *testing.M) {
	starlib.RegisterCustomRunner(engine.RunModule, engine.Render)
	workload.Init()
	vmtest.Init() // PID 1 of a guest (guest tests): never returns
	os.Exit(m.Run())
}
