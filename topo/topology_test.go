package topo

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// fixtureTopology reads a sysfs fixture tree from testdata.
func fixtureTopology(t *testing.T, name string) *Topology {
	t.Helper()
	topo, err := Read(os.DirFS("testdata/" + name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(topo.Warnings) > 0 {
		t.Fatalf("%s: unexpected warnings %q", name, topo.Warnings)
	}
	return topo
}

func TestTopologyTwoSocketSMT(t *testing.T) {
	topo := fixtureTopology(t, "two-socket-smt")
	if len(topo.CPUs) != 16 {
		t.Fatalf("CPUs = %v, want 0-15", topo.CPUs)
	}
	if len(topo.LLCs) != 2 {
		t.Fatalf("LLCs = %+v, want 2", topo.LLCs)
	}
	for i, want := range [][]int{{0, 1, 2, 3, 8, 9, 10, 11}, {4, 5, 6, 7, 12, 13, 14, 15}} {
		l := topo.LLCs[i]
		if l.ID != i || l.Node != i || l.Level != 3 || l.SizeKiB != 32768 || !slices.Equal(l.CPUs, want) {
			t.Errorf("LLC %d = %+v, want id/node %d, level 3, 32768 KiB, CPUs %v", i, l, i, want)
		}
		if len(l.Cores) != 4 {
			t.Errorf("LLC %d cores = %+v, want 4", i, l.Cores)
		}
	}
	wantSMT := [][]int{{0, 8}, {1, 9}, {2, 10}, {3, 11}, {4, 12}, {5, 13}, {6, 14}, {7, 15}}
	if got := topo.SMTSiblings(); !reflect.DeepEqual(got, wantSMT) {
		t.Errorf("SMT siblings = %v, want %v", got, wantSMT)
	}
	if len(topo.Nodes) != 2 || topo.Nodes[1].MemTotalKiB != 16384000 || topo.Nodes[1].MemFreeKiB != 15000000 {
		t.Errorf("nodes = %+v", topo.Nodes)
	}
	if got := topo.NodeCPUs(1); !slices.Equal(got, []int{4, 5, 6, 7, 12, 13, 14, 15}) {
		t.Errorf("NodeCPUs(1) = %v", got)
	}
	if got := topo.NodesFor([]int{3, 4}); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("NodesFor(3,4) = %v", got)
	}
	if d := topo.Distance(0, 1); d != 21 {
		t.Errorf("Distance(0, 1) = %d, want 21", d)
	}
	if d := topo.Distance(0, 7); d != 255 {
		t.Errorf("Distance(0, 7) = %d, want 255", d)
	}
	if got := topo.UsableCPUs(); len(got) != 15 || slices.Contains(got, 15) {
		t.Errorf("usable = %v, want 0-14", got)
	}
	if len(topo.MemoryOnlyNodes()) != 0 {
		t.Errorf("memory-only nodes = %v, want none", topo.MemoryOnlyNodes())
	}
}

func TestTopologyCXL(t *testing.T) {
	topo := fixtureTopology(t, "cxl-memory-node")
	if !slices.Equal(topo.CPUs, []int{0, 1, 2, 3}) || len(topo.LLCs) != 1 || topo.LLCs[0].ID != 0 {
		t.Fatalf("CPUs %v, LLCs %+v", topo.CPUs, topo.LLCs)
	}
	if got := topo.MemoryOnlyNodes(); !slices.Equal(got, []int{1}) {
		t.Errorf("memory-only nodes = %v, want [1]", got)
	}
	if n := topo.Nodes[1]; n.MemTotalKiB != 67108864 || len(n.CPUs) != 0 || !n.MemoryOnly() {
		t.Errorf("CXL node = %+v", n)
	}
	if d := topo.Distance(1, 0); d != 30 {
		t.Errorf("Distance(1, 0) = %d, want 30", d)
	}
	if got := topo.SMTSiblings(); len(got) != 0 {
		t.Errorf("SMT siblings = %v, want none", got)
	}
	if got := topo.UsableCPUs(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("usable = %v, want 0-2", got)
	}
}

func TestTopologyThisHost(t *testing.T) {
	fixture := fixtureTopology(t, "this-host")
	if len(fixture.CPUs) != 2 || len(fixture.LLCs) != 1 || len(fixture.Nodes) != 1 || len(fixture.SMTSiblings()) != 0 {
		t.Errorf("fixture topology = %+v", fixture)
	}
	if got := fixture.UsableCPUs(); !slices.Equal(got, fixture.CPUs) {
		t.Errorf("usable = %v, want all of %v (2 CPUs keep none back)", got, fixture.CPUs)
	}
	// The live machine reads without error and agrees with its own online list.
	host, err := Host()
	if err != nil {
		t.Fatal(err)
	}
	online, err := OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(host.CPUs, online) || len(host.LLCs) == 0 || len(host.Nodes) == 0 {
		t.Errorf("host topology = %+v, online %v", host, online)
	}
	var inLLCs []int
	for _, l := range host.LLCs {
		inLLCs = append(inLLCs, l.CPUs...)
	}
	slices.Sort(inLLCs)
	if !slices.Equal(inLLCs, host.CPUs) {
		t.Errorf("LLCs cover %v, want every CPU %v exactly once", inLLCs, host.CPUs)
	}
}

// TestTopologyDegraded covers sysfs trees with missing pieces (some VMs,
// containers): every gap is filled with the spec's default and warned.
func TestTopologyDegraded(t *testing.T) {
	sys := fstest.MapFS{
		"devices/system/cpu/online":                   {Data: []byte("0-2\n")},
		"devices/system/cpu/cpu0/topology/core_id":    {Data: []byte("0\n")},
		"devices/system/cpu/cpu1/topology/core_id":    {Data: []byte("1\n")},
		"devices/system/node/node0/distance":          {Data: []byte("10 20\n")}, // wrong length
		"devices/system/node/node0/cpulist":           {Data: []byte("0-1\n")},
		"devices/system/cpu/cpu0/cache/index0/level":  {Data: []byte("1\n")},
		"devices/system/cpu/cpu1/cache/placeholder":   {Data: []byte("")},
		"devices/system/cpu/cpu0/cache/index0/size":   {Data: []byte("49152\n")},
		"devices/system/cpu/cpu0/cache/index0/weird":  {Data: []byte("")},
		"devices/system/cpu/cpu1/topology/package_id": {Data: []byte("0\n")},
	}
	topo, err := Read(sys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(topo.CPUs, []int{0, 1}) {
		t.Errorf("CPUs = %v, want 0-1 (CPU 2 has no directory)", topo.CPUs)
	}
	joined := strings.Join(topo.Warnings, "\n")
	for _, want := range []string{"CPU 2 is online but", "CPU 0: no node entry", "CPU 0: devices/system/cpu/cpu0/cache/index0 has neither id nor shared_cpu_list", "CPU 1: no cache information"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", topo.Warnings, want)
		}
	}
	if len(topo.LLCs) != 1 || topo.LLCs[0].SizeKiB != 48 || !slices.Equal(topo.LLCs[0].CPUs, []int{0, 1}) {
		t.Errorf("LLCs = %+v, want one 48 KiB LLC (bytes rounded to KiB) holding CPUs 0-1", topo.LLCs)
	}
	if d := topo.Distance(0, 0); d != 10 {
		t.Errorf("default distance = %d, want 10", d)
	}
	if _, err := Read(fstest.MapFS{"devices/system/cpu/online": {Data: []byte("\n")}}); err == nil {
		t.Error("empty online list accepted")
	}
}

func TestSynthetic(t *testing.T) {
	topo := Synthetic(8, 2)
	if len(topo.LLCs) != 2 || !slices.Equal(topo.LLCCPUs(1), []int{4, 5, 6, 7}) || topo.LLCCPUs(2) != nil {
		t.Errorf("synthetic = %+v", topo)
	}
}

func TestParseCacheSize(t *testing.T) {
	for in, want := range map[string]uint64{"32768K": 32768, "32M": 32768, "1000": 1, "1024": 1, "1025": 2, "x": 0} {
		if got := parseCacheSize(in); got != want {
			t.Errorf("parseCacheSize(%q) = %d, want %d", in, got, want)
		}
	}
}
