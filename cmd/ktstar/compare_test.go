package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/result/resulttest"
)

// writeSynthetic writes a synthetic result of 5 repetitions whose web
// group's latencies scale with webLatency, and returns its path.
func writeSynthetic(t *testing.T, seed uint64, webLatency float64, timeline bool) string {
	t.Helper()
	doc := resulttest.Make(resulttest.Spec{Reps: 5, Workers: 2, Samples: 2000, Seed: seed, Timeline: timeline, Groups: []resulttest.Group{
		{Label: "web", LatencyNs: webLatency, WorkRate: 1e6},
		{Label: "db", LatencyNs: 50_000, WorkRate: 2e6},
	}})
	return resulttest.Write(t, doc)
}

// TestCompareExitStatus drives ktstar compare: a known 20% p99
// regression exits 1 naming it under --max-regress p99=10%; the same
// distribution exits 0; --json - is the machine form; what is not a
// result, or a bad gate, exits 2.
func TestCompareExitStatus(t *testing.T) {
	base := writeSynthetic(t, 1, 20_000, false)
	slower := writeSynthetic(t, 2, 24_000, false)
	same := writeSynthetic(t, 3, 20_000, false)

	out, errs, code := ktstar(t, "", "compare", "--max-regress", "p99=10%", base, slower)
	if code != 1 || !strings.Contains(out, "1 significant regression(s):\n  web: p99 +") {
		t.Errorf("20%% regression: exit %d, want 1 naming web's p99:\n%s%s", code, out, errs)
	}
	out, errs, code = ktstar(t, "", "compare", "--max-regress", "p99=10%,work_rate=5%", base, same)
	if code != 0 || strings.Contains(out, "regression") {
		t.Errorf("same distribution: exit %d, want 0:\n%s%s", code, out, errs)
	}
	out, errs, code = ktstar(t, "", "compare", "--json", "-", "--max-regress", "p99=10%", base, slower)
	var reports []struct {
		Mode        string   `json:"mode"`
		Regressions []string `json:"regressions"`
		Groups      []struct {
			Label, Status string
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil || code != 1 {
		t.Fatalf("--json -: exit %d, %v:\n%s%s", code, err, out, errs)
	}
	if len(reports) != 1 || reports[0].Mode != "repetitions" || len(reports[0].Regressions) != 1 || len(reports[0].Groups) != 2 {
		t.Errorf("--json: %+v", reports)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", base, writeBad(t)}, "not a ktstar result"},
		{[]string{"compare", "--max-regress", "p98=1%", base, same}, `unknown metric "p98"`},
		{[]string{"compare", base}, "want at least 2 argument(s)"},
	} {
		if _, errs, code := ktstar(t, "", tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

func writeBad(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.json")
	writeFile(t, p, "{}")
	return p
}
