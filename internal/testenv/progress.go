package testenv

import (
	"slices"
	"testing"
	"time"
)

// progressPoll is how often WaitProgress reads the counts: short against
// any window a test asks for, long enough not to load the machine.
const progressPoll = 2 * time.Millisecond

// WaitProgress returns once every count progress reports (one per worker,
// each only growing, such as workload's SnapshotIterations) has reached
// min and at least window has passed, so a test asserts on work that was
// published, not on work a fixed sleep hoped for. The window is for tests
// that measure over time (rates, migrations); 0 means none. It fails t
// when limit passes first (pass a bound derived from the code's own
// timeouts), naming the counts.
func WaitProgress(t testing.TB, progress func() []uint64, min uint64, window, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		counts := progress()
		elapsed := time.Since(start)
		if elapsed >= window && (len(counts) == 0 || slices.Min(counts) >= min) {
			return
		}
		if elapsed > limit {
			t.Fatalf("testenv: no progress: counts %v after %v, want each at least %d", counts, limit, min)
		}
		time.Sleep(progressPoll)
	}
}
