package workload

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkSpawnToReady measures Spawn, which returns once every worker has
// applied its settings and parked at the start gate; ns/worker is the
// figure to compare with a C fork+exec (bench/).
func BenchmarkSpawnToReady(b *testing.B) {
	for _, mode := range []CloneMode{CloneFork, CloneThread} {
		for _, n := range []int{16, 256, 1024} {
			b.Run(fmt.Sprintf("%s/N=%d", mode, n), func(b *testing.B) { benchSpawn(b, mode, n) })
		}
	}
}

func benchSpawn(b *testing.B, mode CloneMode, n int) {
	for b.Loop() {
		h, err := Spawn(Config{Workers: n, Work: MustWork("SpinWait", nil), CloneMode: mode})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		h.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/worker")
}

// BenchmarkIdleWorkerRSS reports the private memory of a parked worker, in
// KiB, from /proc/PID/smaps_rollup (Private_Clean + Private_Dirty).
func BenchmarkIdleWorkerRSS(b *testing.B) {
	var kib float64
	for b.Loop() {
		h, err := Spawn(Config{Workers: 1, Work: MustWork("SpinWait", nil)})
		if err != nil {
			b.Fatal(err)
		}
		kib = float64(privateKiB(b, h.Pids()[0]))
		h.Close()
	}
	b.ReportMetric(kib, "private-KiB")
}

func privateKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Private_Clean:" || f[0] == "Private_Dirty:") {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}
