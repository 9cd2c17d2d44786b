package workload

import (
	"fmt"
	"strings"
)

// Tables renders the report as upstream schbench prints its final report
// (spec A.13): the wakeup, request and RPS percentile tables with their
// "(k samples)" counts, then average RPS (or the auto-RPS goal) and the
// sched delays; in pipe mode the wakeup table with its 20th row and the
// transfer line. runtime is the elapsed time in whole seconds.
func (r *SchbenchReport) Tables() string {
	var b strings.Builder
	rt := int64(r.ElapsedS)
	const p20, p50, p90, p99, p999 = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4
	if r.Pipe != nil {
		writeSchbenchTable(&b, r.Wakeup, "Wakeup Latencies", "usec", rt, p20|p50|p90|p99|p999, p99)
		v, unit := prettySize(r.Pipe.BytesPerSec)
		fmt.Fprintf(&b, "avg worker transfer: %.2f ops/sec %.2f%s/s\n", r.Pipe.OpsPerSec, v, unit)
		return b.String()
	}
	writeSchbenchTable(&b, r.Wakeup, "Wakeup Latencies", "usec", rt, p50|p90|p99|p999, p99)
	writeSchbenchTable(&b, r.Request, "Request Latencies", "usec", rt, p50|p90|p99|p999, p99)
	writeSchbenchTable(&b, r.RPS, "RPS", "requests", rt, p20|p50|p90, p50)
	if r.Mode == "auto_rps" {
		fmt.Fprintf(&b, "final rps goal was %d\n", r.RPSGoal)
	} else {
		fmt.Fprintf(&b, "average rps: %.2f\n", r.AverageRPS)
	}
	fmt.Fprintf(&b, "sched delay: message %d (usec) worker %d (usec)\n", int64(r.SchedDelayMsgUs), int64(r.SchedDelayWorkerUs))
	return b.String()
}

func writeSchbenchTable(b *strings.Builder, h SchbenchHist, label, units string, runtime int64, mask, star int) {
	fmt.Fprintf(b, "%s percentiles (%s) runtime %d (s) (%d total samples)\n", label, units, runtime, h.Count)
	for i, p := range h.Percentiles {
		bit := 1 << i
		if mask&bit == 0 {
			continue
		}
		mark := "  "
		if bit == star {
			mark = "* "
		}
		fmt.Fprintf(b, "\t%s%2.1fth: %-10d (%d samples)\n", mark, p.P, p.Value, p.Samples)
	}
	fmt.Fprintf(b, "\t  min=%d, max=%d\n", h.Min, h.Max)
}

// prettySize scales a byte rate by 1024s, as upstream's pretty_size.
func prettySize(v float64) (float64, string) {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return v, units[i]
}
