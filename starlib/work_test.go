package starlib_test

import (
	"testing"
	"time"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// TestPrintedWorkIsStarlark checks, for every type of the catalog, that a
// work value's printed form is a script expression that makes the same
// value again.
func TestPrintedWorkIsStarlark(t *testing.T) {
	params := map[string]map[string]any{
		"Sequence":            {"phases": []workload.Phase{workload.SpinPhase(time.Millisecond), workload.SleepPhase(2 * time.Second), workload.YieldPhase(time.Microsecond), workload.IoPhase(90 * time.Minute), workload.AluHotPhase(50*time.Millisecond, "Scalar")}},
		"Custom":              {"name": `a "quoted" name`, "fn": starlib.CustomRunner, "arg": "/x/lib.star:loop"},
		"NumaWorkingSetSweep": {"target_nodes": []int64{0, 0}},
		"Bursty":              {"burst_duration": 1500 * time.Microsecond},
	}
	pre := starlib.NewSession(starlib.Options{}).Predeclared()
	for _, typ := range workload.Types() {
		p, ok := params[typ.Name]
		if !ok {
			p = typ.Example
		}
		w, err := workload.NewWork(typ.Name, p)
		if err != nil {
			t.Fatal(err)
		}
		src := w.String()
		v, err := starlark.EvalOptions(&syntax.FileOptions{}, &starlark.Thread{}, "printed", src, pre)
		if err != nil {
			t.Errorf("%s: %s does not evaluate: %v", typ.Name, src, err)
			continue
		}
		if back, ok := v.(starlib.WorkValue); !ok || back.W.String() != src {
			t.Errorf("%s: %s evaluates to %v", typ.Name, src, v)
		}
	}
}
