package compare

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/result/resulttest"
)

// BenchmarkCompareLarge compares two results of 64 workers × 100,000
// samples × 5 repetitions, reading both files as `ktstar compare` does
// (the figure of the issue: goal under 2 s and 500 MB). The files are
// made once per run in a temporary directory, never kept.
func BenchmarkCompareLarge(b *testing.B) {
	dir := b.TempDir()
	var paths []string
	for i, lat := range []float64{20_000, 24_000} {
		doc := resulttest.Make(resulttest.Spec{Reps: 5, Workers: 64, Samples: 100_000, Seed: uint64(i + 1),
			Groups: []resulttest.Group{{Label: "web", LatencyNs: lat, WorkRate: 1e6}}})
		bs, err := json.Marshal(doc)
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, "r.json")
		p = p[:len(p)-5] + string(rune('a'+i)) + ".json"
		if err := os.WriteFile(p, bs, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d MB", filepath.Base(p), len(bs)>>20)
		paths = append(paths, p)
	}
	b.ResetTimer()
	for b.Loop() {
		base, err := result.ReadCompact(paths[0], false)
		if err != nil {
			b.Fatal(err)
		}
		next, err := result.ReadCompact(paths[1], false)
		if err != nil {
			b.Fatal(err)
		}
		if r := Compare(base, next, nil); len(r.Groups) != 1 {
			b.Fatalf("groups %+v", r.Groups)
		}
	}
}
