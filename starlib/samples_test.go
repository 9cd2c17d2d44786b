package starlib_test

import (
	"testing"
	"unsafe"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// TestSamplesNotCopied shows that a report's 100,000 wake latencies reach
// Starlark as a samples value sharing the Go slice, not as a list.
func TestSamplesNotCopied(t *testing.T) {
	lat := make([]uint64, workload.MaxWakeSamples)
	for i := range lat {
		lat[i] = uint64(i)
	}
	list := starlib.Reports([]workload.Report{{WakeLatenciesNs: lat}})
	d := list.Index(0).(*starlark.Dict)
	v, found, err := d.Get(starlark.String("wake_latencies_ns"))
	if err != nil || !found {
		t.Fatalf("wake_latencies_ns missing: %v", err)
	}
	if _, isList := v.(*starlark.List); isList {
		t.Fatal("wake_latencies_ns is a Starlark list")
	}
	s, ok := v.(*starlib.Samples)
	if !ok {
		t.Fatalf("wake_latencies_ns is %s, want samples", v.Type())
	}
	if s.Len() != 100_000 || unsafe.SliceData(s.Values()) != unsafe.SliceData(lat) {
		t.Fatalf("samples do not share the report's slice (len %d)", s.Len())
	}
	// Slicing with step 1 shares too; indexing converts one element.
	sub := s.Slice(10, 20, 1).(*starlib.Samples)
	if unsafe.SliceData(sub.Values()) != &lat[10] {
		t.Error("s[10:20] copied the samples")
	}
	if got := s.Index(99_999); got.String() != "99999" {
		t.Errorf("s[99999] = %s", got)
	}
}

// TestPercentiles checks interpolation against hand-computed values and
// the selection against a full sort on data with many duplicates.
func TestPercentiles(t *testing.T) {
	for _, tc := range []struct {
		data []uint64
		ps   []float64
		want []float64
	}{
		{[]uint64{5}, []float64{0, 50, 100}, []float64{5, 5, 5}},
		{[]uint64{4, 1, 3, 2}, []float64{0, 25, 50, 100}, []float64{1, 1.75, 2.5, 4}},
		{[]uint64{7, 7, 7, 1, 7, 7, 9}, []float64{0, 50, 99, 100}, []float64{1, 7, 8.88, 9}},
		{nil, []float64{50}, nil},
	} {
		got := starlib.PercentilesOf(append([]uint64(nil), tc.data...), tc.ps)
		if len(got) != len(tc.want) {
			t.Fatalf("PercentilesOf(%v, %v) = %v, want %v", tc.data, tc.ps, got, tc.want)
		}
		for i := range got {
			if d := got[i] - tc.want[i]; d > 1e-9 || d < -1e-9 {
				t.Errorf("PercentilesOf(%v, %v) = %v, want %v", tc.data, tc.ps, got, tc.want)
			}
		}
	}
	// Ranks selected one after another must match ranks of the sorted data.
	data := make([]uint64, 10_001)
	for i := range data {
		data[i] = uint64((i * 7919) % 97)
	}
	got := starlib.PercentilesOf(append([]uint64(nil), data...), []float64{0, 10, 50, 90, 100})
	counts := make([]int, 97)
	for _, x := range data {
		counts[x]++
	}
	rank := func(k int) float64 {
		for v, c := range counts {
			if k < c {
				return float64(v)
			}
			k -= c
		}
		return -1
	}
	for i, p := range []float64{0, 10, 50, 90, 100} {
		if want := rank(int(p / 100 * 10_000)); got[i] != want {
			t.Errorf("p%v = %v, want %v", p, got[i], want)
		}
	}
}
