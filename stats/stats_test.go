package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPercentilesMatchSortedReference compares against the definition:
// sort everything, take index ceil(n·p/100) − 1.
func TestPercentilesMatchSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := []float64{99.9, 0, 50, 1, 90, 99, 100, 25}
	for _, n := range []int{1, 2, 3, 10, 999, 100_000} {
		for _, spread := range []uint64{1, 7, 1 << 40} {
			// Split the samples over several slices, as reports hold them.
			var sets [][]uint64
			var ref []uint64
			for len(ref) < n {
				m := min(n-len(ref), 1+rng.IntN(5000))
				s := make([]uint64, m)
				for i := range s {
					s[i] = rng.Uint64N(spread)
				}
				sets = append(sets, s)
				ref = append(ref, s...)
			}
			slices.Sort(ref)
			got, err := Percentiles(ps, sets...)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range ps {
				want := ref[RankIndex(n, p)]
				if got[i] != want {
					t.Errorf("n=%d spread=%d p%v = %d, want %d", n, spread, p, got[i], want)
				}
			}
		}
	}
}

func TestPercentileEdges(t *testing.T) {
	if _, err := Percentile[uint64](50); err == nil || err.Error() != "percentile of no samples" {
		t.Errorf("no samples: %v", err)
	}
	if _, err := Percentile(101, []uint64{1}); err == nil || err.Error() != "percentile 101 is out of range (allowed: 0..100)" {
		t.Errorf("p101: %v", err)
	}
	if _, err := Percentile(math.NaN(), []uint64{1}); err == nil {
		t.Error("NaN percentile accepted")
	}
	for _, tc := range []struct {
		n    int
		p    float64
		want int
	}{{100, 99, 98}, {1, 99, 0}, {10, 0, 0}, {10, 100, 9}, {1000, 99.9, 998}, {3, 50, 1}} {
		if got := RankIndex(tc.n, tc.p); got != tc.want {
			t.Errorf("RankIndex(%d, %v) = %d, want %d", tc.n, tc.p, got, tc.want)
		}
	}
}

func TestMoments(t *testing.T) {
	a, b := []uint64{2, 4, 4}, []uint64{4, 5, 5, 7, 9}
	if n := Count(a, b); n != 8 {
		t.Errorf("count %d", n)
	}
	if m := Mean(a, b); m != 5 {
		t.Errorf("mean %v", m)
	}
	if s := Stdev(a, b); s != 2 {
		t.Errorf("stdev %v", s)
	}
	if cv := CV(a, b); cv != 0.4 {
		t.Errorf("cv %v", cv)
	}
	if v, ok := Min(a, b); !ok || v != 2 {
		t.Errorf("min %v", v)
	}
	if v, ok := Max(a, b); !ok || v != 9 {
		t.Errorf("max %v", v)
	}
	if !math.IsNaN(Mean[uint64]()) || !math.IsNaN(CV([]uint64{3})) || !math.IsNaN(CV([]uint64{0, 0})) {
		t.Error("empty or degenerate inputs must give NaN")
	}
}

func BenchmarkP99Of64x100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	sets := make([][]uint64, 64)
	for i := range sets {
		sets[i] = make([]uint64, 100_000)
		for j := range sets[i] {
			sets[i][j] = rng.Uint64N(1 << 20)
		}
	}
	for b.Loop() {
		if _, err := Percentiles([]float64{50, 99, 99.9}, sets...); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFloats(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	if p, err := Percentiles([]float64{0, 50, 75, 100}, xs); err != nil || p[0] != 1 || p[1] != 2 || p[2] != 3 || p[3] != 4 {
		t.Errorf("nearest-rank percentiles of %v: %v %v", xs, p, err)
	}
	if m := Mean(xs, []float64{5}); m != 3 {
		t.Errorf("mean %v", m)
	}
	if xs[0] != 4 {
		t.Error("Percentiles reordered its input")
	}
}
