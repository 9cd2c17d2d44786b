package main

import (
	"maps"
	"strconv"
	"testing"
)

// TestParseSchbench reads upstream's report as schbench.c prints it: an
// interim report, then the final one whose figures must be taken.
func TestParseSchbench(t *testing.T) {
	table := func(label string, p50, p99 int) string {
		return label + " percentiles (usec) runtime 5 (s) (100 total samples)\n" +
			"\t  50.0th: " + itoa(p50) + "          (50 samples)\n\t  90.0th: 1          (40 samples)\n" +
			"\t* 99.0th: " + itoa(p99) + "          (9 samples)\n\t  99.9th: 1          (1 samples)\n\t  min=1, max=9\n"
	}
	interim := table("Wakeup Latencies", 1, 2) + table("Request Latencies", 3, 4) + "current rps: 1.00\n"
	final := table("Wakeup Latencies", 7, 8) + table("Request Latencies", 4004, 9000) +
		"RPS percentiles (requests) runtime 5 (s) (6 total samples)\n\t* 50.0th: 400        (3 samples)\n\t  min=380, max=420\n" +
		"average rps: 412.80\nsched delay: message 0 (usec) worker 0 (usec)\n"
	for _, tc := range []struct {
		name string
		out  string
		want figures
	}{
		{"default", "setting worker threads to 2\n" + interim + final,
			figures{"wakeup_p50_us": 7, "request_p50_us": 4004, "request_p99_us": 9000, "avg_rps": 412.8}},
		{"pipe", "Wakeup Latencies percentiles (usec) runtime 5 (s) (10 total samples)\n\t  20.0th: 1          (2 samples)\n\t  50.0th: 2          (3 samples)\n\t  min=1, max=5\n" +
			"avg worker transfer: 45123.50 ops/sec 352.53KB/s\n",
			figures{"wakeup_p50_us": 2, "transfer_ops_per_s": 45123.5}},
	} {
		got, err := parseSchbench([]byte(tc.out))
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := parseSchbench([]byte("schbench usage:\n")); err == nil {
		t.Error("usage text parsed without an error")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
