package workload

import (
	"testing"
	"time"
)

// benchWork runs one worker of work for a second per b.N and reports its
// throughput as units/s (work units) and iters/s, for comparison with the
// equivalent C loops (fork+_exit+waitpid; spin; strided read-modify-write).
func benchWork(b *testing.B, work Work) {
	var units, iters uint64
	var wall time.Duration
	for range b.N {
		h, err := Spawn(Config{Workers: 1, Work: work})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		rs, err := h.StopAndCollect()
		if err != nil || !rs[0].Completed {
			b.Fatalf("stop: %v, report %+v", err, rs[0].ExitInfo)
		}
		units += rs[0].WorkUnits
		iters += rs[0].Iterations
		wall += time.Duration(rs[0].WallTimeNs)
	}
	b.ReportMetric(float64(units)/wall.Seconds(), "units/s")
	b.ReportMetric(float64(iters)/wall.Seconds(), "iters/s")
}

func BenchmarkForkExit(b *testing.B)      { benchWork(b, MustWork("ForkExit", nil)) }
func BenchmarkSpinWait(b *testing.B)      { benchWork(b, MustWork("SpinWait", nil)) }
func BenchmarkCachePressure(b *testing.B) { benchWork(b, MustWork("CachePressure", nil)) }

func BenchmarkAluHot(b *testing.B) {
	for _, impl := range aluWidths() {
		b.Run(impl.width, func(b *testing.B) { benchWork(b, MustWork("AluHot", map[string]any{"width": impl.width})) })
	}
}

// BenchmarkAluChain times the chains in process: ns per step of four
// multiplies, for an IPC estimate with the instruction count of the loop.
func BenchmarkAluChain(b *testing.B) {
	for _, impl := range aluWidths() {
		b.Run(impl.width, func(b *testing.B) {
			var sink uint64
			for range b.N {
				sink ^= impl.chain(1024)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1024, "ns/step")
			if sink == 1 {
				b.Log(sink)
			}
		})
	}
}

// BenchmarkWakeSample is the cost of recording one wake sample: the
// reservoir, the kind and the histogram with its exact aggregates. It
// must not allocate.
func BenchmarkWakeSample(b *testing.B) {
	w := newTestWorker(b, MustWork("FutexPingPong", nil))
	w.declared = SampleWake
	b.ReportAllocs()
	for i := range b.N {
		w.WakeSample(int64(i&0xffff) * 37)
	}
}
