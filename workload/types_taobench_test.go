package workload

import (
	"strings"
	"testing"
	"time"
)

// TestTaobenchHitRatio: both ratios are reported, settle on the target
// when the key range is made for the cache, and fall when the cache is
// far smaller than the dataset its keys were drawn for.
func TestTaobenchHitRatio(t *testing.T) {
	run := func(cacheMiB int) *TaobenchReport {
		r := runFor(t, Config{Workers: 1, Work: MustWork("Taobench", map[string]any{"cache_capacity_mib": cacheMiB, "dataset_mib": 16, "client_threads": 2})}, time.Second)[0]
		tb := r.Taobench
		if tb == nil || r.Counters["taobench_threads_not_reaped"] != 0 {
			t.Fatalf("no taobench report, or threads left: %+v", r)
		}
		t.Log(tb.Line())
		if tb.GetCmds == 0 || tb.SlowOps == 0 || r.WorkUnits != tb.FastOps+tb.SlowOps {
			t.Errorf("cmds %d slow %d units %d fast+slow %d", tb.GetCmds, tb.SlowOps, r.WorkUnits, tb.FastOps+tb.SlowOps)
		}
		// Every miss counted at lookup is answered before its client
		// leaves, so here the two ratios agree exactly.
		if tb.GetMisses != tb.SlowOps || tb.GetCmds != tb.FastOps+tb.SlowOps {
			t.Errorf("misses %d vs slow ops %d, cmds %d vs ops %d", tb.GetMisses, tb.SlowOps, tb.GetCmds, tb.FastOps+tb.SlowOps)
		}
		if !strings.Contains(tb.Line(), "hit_ratio = ") || !strings.Contains(tb.Line(), "hit_rate = ") {
			t.Errorf("line %q", tb.Line())
		}
		return tb
	}
	tiny, large := run(1), run(16)
	if tiny.HitRatio >= large.HitRatio || tiny.HitRate >= large.HitRate {
		t.Errorf("1 MiB cache: hit ratio %.3f rate %.3f; 16 MiB: %.3f %.3f; want the tiny cache lower", tiny.HitRatio, tiny.HitRate, large.HitRatio, large.HitRate)
	}
	// The key range is ceil(objects / 0.9): the full cache sits at 0.9.
	if large.HitRatio < 0.85 || large.HitRatio > 0.95 {
		t.Errorf("cache = dataset: hit ratio %.3f, want about 0.9", large.HitRatio)
	}
}

func TestTaobenchInvalid(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"target_hit_pct": 100}, "taobench: target_hit_pct = 100 is out of range (allowed: 1..99)"},
		{map[string]any{"dataset_mib": 16384, "target_hit_pct": 1}, "taobench: dataset_mib = 16384 with target_hit_pct = 1 makes"},
	} {
		if _, err := NewWork("Taobench", tc.params); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v\nwant %q", tc.params, err, tc.want)
		}
	}
}

// TestStandInFigures: the stand-in reports of `ktstar check` carry the
// benchmark types' own figures, so scripts reading them go through.
func TestStandInFigures(t *testing.T) {
	for _, tc := range []struct {
		name string
		has  func(r *Report) bool
	}{
		{"Schbench", func(r *Report) bool {
			return r.Schbench != nil && r.Schbench.Request.P99 == 1 && len(r.Schbench.Request.Buckets) == 1
		}},
		{"Taobench", func(r *Report) bool { return r.Taobench != nil && r.Taobench.HitRatio == 1 }},
		{"SpinWait", func(r *Report) bool { return r.Schbench == nil && r.Taobench == nil }},
	} {
		var r Report
		MustWork(tc.name, nil).StandIn(&r)
		if !tc.has(&r) {
			t.Errorf("%s: stand-in figures %+v %+v", tc.name, r.Schbench, r.Taobench)
		}
	}
}
