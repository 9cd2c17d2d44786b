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
