package hist

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBucketsByHand checks indices, bounds and reported values worked out
// by hand from spec A.10: exact below 512; above, e = highest bit − 8,
// index (e+1)·256 + (v>>e) mod 256, midpoint = lower bound + 2^(e−1).
func TestBucketsByHand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		v      uint64
		idx    int
		lo, hi uint64
		value  uint64
	}{
		{"zero", Schbench, 0, 0, 0, 0, 0},
		{"one", Schbench, 1, 1, 1, 1, 1},
		{"last exact", Schbench, 511, 511, 511, 511, 511},
		{"first split", Schbench, 512, 512, 512, 513, 513},
		{"shares 512's bucket", Schbench, 513, 512, 512, 513, 513},
		{"second split bucket", Schbench, 514, 513, 514, 515, 515},
		{"1000: e=1, 500 mod 256 = 244", Schbench, 1000, 756, 1000, 1001, 1001},
		{"top of group 2", Schbench, 1023, 767, 1022, 1023, 1023},
		{"group 3 starts, width 4", Schbench, 1024, 768, 1024, 1027, 1026},
		{"4000: e=3, 500 mod 256 = 244", Schbench, 4000, 1268, 4000, 4007, 4004},
		{"100000: e=8, 390 mod 256 = 134", Schbench, 100000, 2438, 99840, 100095, 99968},
		{"last unclamped", Schbench, 1<<26 - 1, 4863, 66977792, 67108863, 67043328},
		{"2^26 clamped", Schbench, 1 << 26, 4863, 66977792, 67108863, 67043328},
		{"2^40 clamped", Schbench, 1 << 40, 4863, 66977792, 67108863, 67043328},
		{"2^40 ns: e=32, group 33", Nanoseconds, 1 << 40, 8448, 1 << 40, 1<<40 + 1<<32 - 1, 1<<40 + 1<<31},
		{"top of uint64", Config{Groups: MaxGroups}, ^uint64(0), MaxGroups*256 - 1, 511 << 55, ^uint64(0), 511<<55 + 1<<54},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := tc.cfg.Index(tc.v)
			lo, hi := tc.cfg.Bounds(idx)
			value := tc.cfg.Value(idx)
			if idx != tc.idx || lo != tc.lo || hi != tc.hi || value != tc.value {
				t.Errorf("%d: index %d [%d, %d] value %d, want %d [%d, %d] value %d",
					tc.v, idx, lo, hi, value, tc.idx, tc.lo, tc.hi, tc.value)
			}
		})
	}
}

// TestPercentilePicksByHand checks the threshold walk (first bucket whose
// running count reaches p/100·N) and the "(k samples)" differences.
func TestPercentilePicksByHand(t *testing.T) {
	type rec struct{ v, times uint64 }
	for _, tc := range []struct {
		name          string
		recs          []rec
		values        []uint64 // p20, p50, p90, p99, p99.9
		samples       []uint64
		min, max, sum uint64
	}{
		{
			name:   "empty: all zero",
			values: []uint64{0, 0, 0, 0, 0}, samples: []uint64{0, 0, 0, 0, 0},
		},
		{
			// thresholds 2, 5, 9, 9.9, 9.99
			name:   "1..10",
			recs:   []rec{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}, {7, 1}, {8, 1}, {9, 1}, {10, 1}},
			values: []uint64{2, 5, 9, 10, 10}, samples: []uint64{2, 3, 4, 1, 0},
			min: 1, max: 10, sum: 55,
		},
		{
			// thresholds 20, 50, 90, 99, 99.9; running 80, 99, 100;
			// 1000 reports 1001, 100000 reports 99968.
			name:   "shared buckets and midpoints",
			recs:   []rec{{100, 80}, {1000, 19}, {100000, 1}},
			values: []uint64{100, 100, 1001, 1001, 99968}, samples: []uint64{80, 0, 19, 0, 1},
			min: 100, max: 100000, sum: 127000,
		},
		{
			// 99.9/100.0·1000 is 999.0000000000001 in double, so 999
			// samples do not reach p99.9: upstream's pick, kept.
			name:   "double threshold",
			recs:   []rec{{5, 999}, {7, 1}},
			values: []uint64{5, 5, 5, 5, 7}, samples: []uint64{999, 0, 0, 0, 1},
			min: 5, max: 7, sum: 5002,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := MustNew(Schbench)
			for _, r := range tc.recs {
				for range r.times {
					h.Record(r.v)
				}
			}
			picks := h.Percentiles(SchbenchPercentiles)
			var values, samples []uint64
			for _, p := range picks {
				values = append(values, p.Value)
				samples = append(samples, p.Samples)
			}
			if !slices.Equal(values, tc.values) || !slices.Equal(samples, tc.samples) {
				t.Errorf("values %v samples %v, want %v %v", values, samples, tc.values, tc.samples)
			}
			if h.Min() != tc.min || h.Max() != tc.max || h.Sum() != tc.sum {
				t.Errorf("min %d max %d sum %d, want %d %d %d", h.Min(), h.Max(), h.Sum(), tc.min, tc.max, tc.sum)
			}
			if got := h.Percentile(99); got != tc.values[3] {
				t.Errorf("Percentile(99) = %d, want %d", got, tc.values[3])
			}
		})
	}
}

// TestBucketsTileTheRange: consecutive buckets are contiguous and every
// value maps back to the bucket whose bounds hold it, for every layout.
func TestBucketsTileTheRange(t *testing.T) {
	for _, cfg := range []Config{Schbench, Nanoseconds, {Groups: MaxGroups}} {
		var next uint64
		for i := range cfg.Buckets() {
			lo, hi := cfg.Bounds(i)
			if lo != next || hi < lo {
				t.Fatalf("%d groups: bucket %d is [%d, %d], want it to start at %d", cfg.Groups, i, lo, hi, next)
			}
			if cfg.Index(lo) != i || cfg.Index(hi) != i {
				t.Fatalf("%d groups: bucket %d [%d, %d] indexes as %d, %d", cfg.Groups, i, lo, hi, cfg.Index(lo), cfg.Index(hi))
			}
			next = hi + 1
		}
		if next != cfg.Limit() {
			t.Errorf("%d groups: buckets end at %d, limit %d", cfg.Groups, next, cfg.Limit())
		}
	}
}

// TestRelativeErrorBound checks the documented bound |reported − v| ≤ v/512.
func TestRelativeErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := Config{Groups: MaxGroups}
	for range 200_000 {
		v := rng.Uint64() >> rng.IntN(64)
		r := cfg.Value(cfg.Index(v))
		d := max(r, v) - min(r, v)
		if d > v/512 {
			t.Fatalf("value %d reports %d: error %d above %d", v, r, d, v/512)
		}
	}
}

// TestMergeIgnoresEmptyMin is spec A.15's fix: upstream's merge lets an idle
// worker's unset min (0) become the merged min.
func TestMergeIgnoresEmptyMin(t *testing.T) {
	busy, idle, total := MustNew(Schbench), MustNew(Schbench), MustNew(Schbench)
	for _, v := range []uint64{40, 700, 9000} {
		busy.Record(v)
	}
	for _, o := range []*Hist{idle, busy, idle} {
		if err := total.Merge(o); err != nil {
			t.Fatal(err)
		}
	}
	if total.Min() != 40 || total.Max() != 9000 || total.Count() != 3 || total.Sum() != 9740 {
		t.Errorf("merged min %d max %d count %d sum %d, want 40 9000 3 9740", total.Min(), total.Max(), total.Count(), total.Sum())
	}
	if !slices.Equal(total.Buckets(), busy.Buckets()) {
		t.Errorf("merged buckets %v, want %v", total.Buckets(), busy.Buckets())
	}
	small := MustNew(Schbench)
	small.Record(3)
	if err := total.Merge(small); err != nil || total.Min() != 3 {
		t.Errorf("after merging a 3: min %d (%v), want 3", total.Min(), err)
	}
	if err := total.Merge(MustNew(Nanoseconds)); err == nil {
		t.Error("merging different layouts succeeded")
	}
}

// TestSummaryRoundTrip: the JSON form keeps only non-empty buckets and
// rebuilds the same histogram; bad bucket lists are refused.
func TestSummaryRoundTrip(t *testing.T) {
	h := MustNew(Nanoseconds)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		h.Record(rng.Uint64N(1 << 30))
	}
	data, err := json.Marshal(h.Summarize(SchbenchPercentiles))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Buckets) == 0 || len(s.Buckets) > 5000 {
		t.Fatalf("%d buckets for 5000 values", len(s.Buckets))
	}
	back, err := FromSummary(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Percentiles(SchbenchPercentiles), h.Percentiles(SchbenchPercentiles)) ||
		back.Min() != h.Min() || back.Max() != h.Max() || back.Count() != h.Count() || back.Sum() != h.Sum() {
		t.Errorf("rebuilt histogram differs")
	}
	s.Buckets[0].Hi++
	if _, err := FromSummary(s); err == nil {
		t.Error("a bucket with wrong bounds was accepted")
	}
	s.Buckets[0].Hi--
	s.Count++
	if _, err := FromSummary(s); err == nil {
		t.Error("a count that disagrees with the buckets was accepted")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := MustNew(Nanoseconds)
	v := uint64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(v); v = v*3 + 1 }); n != 0 {
		t.Errorf("Record allocates %v times per call", n)
	}
}

func TestResetAndLayoutRange(t *testing.T) {
	h := MustNew(Schbench)
	h.Record(77)
	h.Reset()
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Sum() != 0 || len(h.Buckets()) != 0 {
		t.Errorf("reset left count %d min %d max %d buckets %v", h.Count(), h.Min(), h.Max(), h.Buckets())
	}
	for _, g := range []int{0, 1, MaxGroups + 1} {
		if _, err := New(Config{Groups: g}); err == nil {
			t.Errorf("%d groups accepted", g)
		}
	}
}

func TestPercentilesIntoDoesNotAllocate(t *testing.T) {
	h := MustNew(Schbench)
	for v := range uint64(5000) {
		h.Record(v)
	}
	dst := make([]Pick, len(SchbenchPercentiles))
	if n := testing.AllocsPerRun(100, func() { h.PercentilesInto(dst, SchbenchPercentiles) }); n != 0 {
		t.Errorf("PercentilesInto allocates %v times per call", n)
	}
	if dst[1].Value != h.Percentile(50) || dst[1].Value == 0 {
		t.Errorf("p50 %d, Percentile(50) %d", dst[1].Value, h.Percentile(50))
	}
}
