package testenv

import (
	"slices"
	"testing"

	"github.com/ktstar/ktstar/topo"
)

// allowedCPUs returns the CPUs this process may run on, sorted: the
// online ones its affinity mask (and cpuset) allows.
func allowedCPUs(t testing.TB) []int {
	t.Helper()
	cpus, err := topo.AllowedCPUs()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return cpus
}

// NumCPU returns how many CPUs this process may run on.
func NumCPU(t testing.TB) int {
	t.Helper()
	return len(allowedCPUs(t))
}

// CPUs returns n distinct CPUs this process may run on, in ascending
// order, for tests that pin workers: use them instead of writing CPU
// numbers. It skips t when fewer than n are available.
func CPUs(t testing.TB, n int) []int {
	t.Helper()
	cpus := allowedCPUs(t)
	if len(cpus) < n {
		skipf(t, "needs %d CPUs; this process may run on %d", n, len(cpus))
	}
	return slices.Clone(cpus[:n])
}

// CPU returns one CPU this process may run on (the first of CPUs(t, 1)).
func CPU(t testing.TB) int {
	t.Helper()
	return CPUs(t, 1)[0]
}
