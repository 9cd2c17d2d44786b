package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkPrintOnly runs ktstar on a script that only prints: process
// start, Go runtime, engine and starlib set-up. It reports the median wall
// time (goal: at most 30 ms).
func BenchmarkPrintOnly(b *testing.B) {
	s := filepath.Join(b.TempDir(), "p.star")
	writeFile(b, s, "print('hello')\n")
	var times []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if out, err := exec.Command(bin, "-q", s).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}
