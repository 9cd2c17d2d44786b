package workload

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func with(base map[string]any, k string, v any) map[string]any {
	m := map[string]any{k: v}
	for bk, bv := range base {
		if bk != k {
			m[bk] = bv
		}
	}
	return m
}

// outOfRange returns values just outside a parameter's declared range.
func outOfRange(p Param) []any {
	switch p.Kind {
	case KindInt:
		out := []any{p.Min - 1}
		if p.Max > 0 {
			out = append(out, p.Max+1)
		}
		return out
	case KindInts:
		return []any{[]int64{p.Min - 1}}
	case KindDuration:
		if p.MinDur > 0 {
			return []any{p.MinDur - 1}
		}
	case KindEnum:
		return []any{"Bogus"}
	case KindPhases:
		return []any{[]Phase{SpinPhase(0)}}
	}
	return nil
}

// TestCatalogRanges checks every parameter of every type: defaults are
// valid, and each value just out of range is an error naming the
// constructor, the parameter, the value and the allowed range.
func TestCatalogRanges(t *testing.T) {
	for _, typ := range Types() {
		base := typ.Example
		if _, err := NewWork(typ.Name, base); err != nil {
			t.Errorf("%s with defaults: %v", typ.Name, err)
		}
		for _, p := range typ.Params {
			for _, v := range outOfRange(p) {
				_, err := NewWork(typ.Name, with(base, p.Name, v))
				want := fmt.Sprintf("%s: %s = %s is out of range (allowed: %s)", typ.Ctor, p.Name, p.Format(v), p.Range())
				if err == nil || err.Error() != want {
					t.Errorf("%s(%s = %v): %v\n\twant %s", typ.Ctor, p.Name, v, err, want)
				}
			}
		}
	}
}

// TestCatalogZeroAndCrossRules covers the spec's zero-counter rules and
// the cross-parameter rules that a single range cannot express.
func TestCatalogZeroAndCrossRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"CachePressure", map[string]any{"size_kb": 0}, "cache_pressure: size_kb = 0 is out of range (allowed: 1..4194304)"},
		{"CachePressure", map[string]any{"stride": 0}, "cache_pressure: stride = 0 is out of range (allowed: 1..1048576)"},
		{"CacheYield", map[string]any{"size_kib": 0}, "cache_yield: size_kb = 0 is out of range"},
		{"IdleChurn", map[string]any{"burst_duration": "0s"}, `idle_churn: burst_duration = "0s" is out of range (allowed: 1ns or more)`},
		{"IdleChurn", map[string]any{"sleep_duration": "0s"}, "idle_churn: sleep_duration = 0s is out of range (allowed: 1ns or more); for no sleep use spin_wait or yield_heavy"},
		{"IpcVariance", map[string]any{"hot_iters": 0}, "ipc_variance: hot_iters = 0 is out of range (allowed: 1..16777216)"},
		{"IpcVariance", map[string]any{"cold_iters": 0}, "ipc_variance: cold_iters = 0 is out of range"},
		{"IpcVariance", map[string]any{"period_iters": 0}, "ipc_variance: period_iters = 0 is out of range"},
		{"Sequence", map[string]any{}, "sequence: phases = []: at least one phase is needed"},
		{"Sequence", map[string]any{"phases": []Phase{SpinPhase(time.Millisecond), SleepPhase(0)}}, `sequence: phases = [phase.spin("1ms"), phase.sleep("0s")] is out of range (allowed: phases, each with a duration of 1ns or more)`},
		{"Sequence", map[string]any{"phases": []any{map[string]any{"kind": "jump", "duration": "1s"}}}, `sequence: phases[0]: unknown phase kind "jump" (allowed: spin, sleep, yield, io, alu_hot)`},
		{"PageFaultChurn", map[string]any{"region_kb": 8, "touches_per_cycle": 3}, "page_fault_churn: touches_per_cycle = 3 is out of range (allowed: 0..2, the pages in region_kb = 8)"},
		{"NumaWorkingSetSweep", map[string]any{"target_nodes": []any{"a"}}, "numa_working_set_sweep: target_nodes[0]: want int"},
		{"IoSyncWrite", map[string]any{"file_kb": 1024}, "io_sync_write: file_kb = 1024 is out of range (allowed: 4096..16777216)"},
		{"WakeChain", map[string]any{"depth": 1}, `wake_chain: depth = 1: wake = "Pipe" needs depth >= 2`},
		{"SmtSiblingSpin", map[string]any{"spin_iters": 1}, `smt_sibling_spin: unknown parameter "spin_iters" (parameters: none)`},
		{"AluHot", map[string]any{"width": "Amx"}, `alu_hot: width = "Amx" is out of range (allowed: one of "Widest", "Scalar", "Vec128", "Vec256", "Vec512")`},
	} {
		_, err := NewWork(tc.name, tc.params)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s(%v): %v\n\twant %s", tc.name, tc.params, err, tc.want)
		}
	}
}

// TestCatalogNames checks the listing: every named type has a
// constructor and a doc, and only Custom is a form.
func TestCatalogNames(t *testing.T) {
	for _, typ := range Types() {
		if typ.Ctor == "" || typ.Doc == "" || typ.New == nil {
			t.Errorf("%s: missing constructor name, doc or body", typ.Name)
		}
		if (typ.NamedBy != "") != (typ.Name == "Custom") {
			t.Errorf("%s: listed as %s", typ.Name, typ.Form())
		}
	}
}
