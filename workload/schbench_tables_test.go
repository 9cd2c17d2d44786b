package workload

import (
	"testing"

	"github.com/ktstar/ktstar/hist"
)

// TestSchbenchTablesLayout compares with text laid out by hand after
// upstream's printf formats (show_latencies, "average rps", "sched delay",
// pipe mode's transfer line). Thresholds over 10 values (4 × 100, 5 ×
// 1000, 1 × 100000): p20 = 2 → 100 (running 4); p50 = 5 → 1001 (running
// 9, so 5 samples, counted from p20 even where p20 is not printed); p90 =
// 9 → 1001 (0); p99 = 9.9 → 99968 (1); p99.9 → 99968 (0).
func TestSchbenchTablesLayout(t *testing.T) {
	h := hist.MustNew(hist.Schbench)
	for _, v := range []uint64{100, 100, 100, 100, 1000, 1000, 1000, 1000, 1000, 100000} {
		h.Record(v)
	}
	rps := hist.MustNew(hist.Schbench)
	rps.Record(250)
	rps.Record(260)
	r := &SchbenchReport{Mode: "saturate", Wakeup: schbenchHist(h), Request: schbenchHist(h), RPS: schbenchHist(rps),
		ElapsedS: 2.7, AverageRPS: 254.5, SchedDelayMsgUs: 12.9, SchedDelayWorkerUs: 3}
	table := "percentiles (usec) runtime 2 (s) (10 total samples)\n" +
		"\t  50.0th: 1001       (5 samples)\n" +
		"\t  90.0th: 1001       (0 samples)\n" +
		"\t* 99.0th: 99968      (1 samples)\n" +
		"\t  99.9th: 99968      (0 samples)\n" +
		"\t  min=100, max=100000\n"
	want := "Wakeup Latencies " + table + "Request Latencies " + table +
		"RPS percentiles (requests) runtime 2 (s) (2 total samples)\n" +
		"\t  20.0th: 250        (1 samples)\n" +
		"\t* 50.0th: 250        (0 samples)\n" +
		"\t  90.0th: 260        (1 samples)\n" +
		"\t  min=250, max=260\n" +
		"average rps: 254.50\n" +
		"sched delay: message 12 (usec) worker 3 (usec)\n"
	if got := r.Tables(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	r.Pipe = &SchbenchPipe{OpsPerSec: 45123.5, BytesPerSec: 45123.5 * 8}
	want = "Wakeup Latencies percentiles (usec) runtime 2 (s) (10 total samples)\n" +
		"\t  20.0th: 100        (4 samples)\n" +
		table[len("percentiles (usec) runtime 2 (s) (10 total samples)\n"):] +
		"avg worker transfer: 45123.50 ops/sec 352.53KB/s\n"
	if got := r.Tables(); got != want {
		t.Errorf("pipe: got:\n%s\nwant:\n%s", got, want)
	}
}
