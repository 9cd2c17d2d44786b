package workload

import (
	"slices"
	"testing"
	"time"
)

// benchWindow is how long each benchmark lets its workers run. The
// benchmarks measure a real run of worker processes, so b.N is not a loop
// count: each b.N round is one window, and the figures are per second of
// the last window (run them with -benchtime=1x).
const benchWindow = time.Second

// benchRun spawns cfg, runs it for benchWindow once per b.N and returns
// the last window's reports.
func benchRun(b *testing.B, cfg Config) []Report {
	var rs []Report
	for range b.N {
		b.StopTimer()
		h, err := Spawn(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		h.Start()
		time.Sleep(benchWindow)
		rs, err = h.StopAndCollect()
		if err != nil {
			b.Fatal(err)
		}
	}
	return rs
}

// perSecond is n per second of the slowest worker's loop wall time.
func perSecond(n uint64, rs []Report) float64 {
	var wall uint64
	for _, r := range rs {
		wall = max(wall, r.WallTimeNs)
	}
	return float64(n) / (float64(wall) / 1e9)
}

// BenchmarkFutexPingPong reports hand-off round trips per second of one
// pair: a round trip is one wake each way, counted by position 0's wakes.
func BenchmarkFutexPingPong(b *testing.B) {
	rs := benchRun(b, Config{Workers: 2, Work: MustWork("FutexPingPong", map[string]any{"spin_iters": 0})})
	b.ReportMetric(perSecond(rs[0].WakeSampleTotal, rs), "roundtrips/s")
}

// BenchmarkPipeIo reports one-byte exchanges per second of one pair.
func BenchmarkPipeIo(b *testing.B) {
	rs := benchRun(b, Config{Workers: 2, Work: MustWork("PipeIo", map[string]any{"burst_iters": 0})})
	b.ReportMetric(perSecond(rs[0].WakeSampleTotal, rs), "roundtrips/s")
}

// BenchmarkWakeChain reports token hops per second around one chain of
// four stages with no work per hop, for both wake mechanisms.
func BenchmarkWakeChain(b *testing.B) {
	for _, mech := range []string{"Pipe", "Futex"} {
		b.Run(mech, func(b *testing.B) {
			rs := benchRun(b, Config{Workers: 4, Work: MustWork("WakeChain", map[string]any{"depth": 4, "wake": mech, "work_per_hop": "0s"})})
			var hops uint64
			for _, r := range rs {
				hops += r.Counters["hops"]
			}
			b.ReportMetric(perSecond(hops, rs), "hops/s")
		})
	}
}

// BenchmarkFutexFanOutLatency reports the receivers' wake latency (from
// just before FUTEX_WAIT to observing the advance) at p50 and p99, for one
// messenger and two receivers.
func BenchmarkFutexFanOutLatency(b *testing.B) {
	rs := benchRun(b, Config{Workers: 3, Work: MustWork("FutexFanOut", map[string]any{"fan_out": 2})})
	var lat []uint64
	for _, r := range rs[1:] {
		lat = append(lat, r.WakeLatenciesNs...)
	}
	if len(lat) == 0 {
		b.Fatal("no wake samples")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(0, "ns/op")
}
