package summary

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/workload"
)

func TestWriteBenchTables(t *testing.T) {
	sb := &workload.SchbenchReport{Mode: "saturate", AverageRPS: 12.5}
	tb := &workload.TaobenchReport{TotalQPS: 100, HitRatio: 0.9, HitRate: 0.9}
	units := []checks.Unit{{Name: "#1 Schbench", Reports: []workload.Report{{Tid: 7, Schbench: sb}, {Tid: 8}}},
		{Name: "#2 Taobench", Reports: []workload.Report{{Tid: 9, Taobench: tb}}}}
	var b bytes.Buffer
	WriteBenchTables(&b, units, Options{})
	for _, want := range []string{
		"#1 Schbench, worker 0 (tid 7), schbench saturate mode:\nWakeup Latencies percentiles (usec)",
		"average rps: 12.50\n",
		"#2 Taobench, worker 0 (tid 9), taobench model: total_qps = 100,",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "tid 8") {
		t.Errorf("a report without benchmark figures got a table:\n%s", b.String())
	}
	b.Reset()
	WriteBenchTables(&b, units, Options{Quiet: true})
	if b.Len() != 0 {
		t.Errorf("quiet output: %q", b.String())
	}
}
