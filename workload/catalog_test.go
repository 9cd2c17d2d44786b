package workload

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/topo"
)

func TestNewWorkErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"SpinWiat", nil, `unknown work type "SpinWiat"; known types: SpinWait`},
		{"spinwait", nil, `unknown work type "spinwait" (did you mean "SpinWait"?)`},
		{"futex_ping_pong", nil, `unknown work type "futex_ping_pong" (did you mean "FutexPingPong"?)`},
		{"SpinWait", map[string]any{"spin_iters": 1}, `spin_wait: unknown parameter "spin_iters" (parameters: none)`},
		{"FutexPingPong", map[string]any{"spin": 1}, `futex_ping_pong: unknown parameter "spin" (parameters: spin_iters)`},
		{"FutexPingPong", map[string]any{"spin_iters": -1}, `futex_ping_pong: spin_iters = -1 is out of range (allowed: 0..16777216)`},
		{"PipeIo", map[string]any{"burst_iters": 1 << 25}, `pipe_io: burst_iters = 33554432 is out of range (allowed: 0..16777216)`},
		{"PipeIo", map[string]any{"burst_iters": "many"}, `pipe_io: burst_iters: want int, got string "many"`},
		{"Bursty", map[string]any{"sleep_duration": "soon"}, `bursty: sleep_duration: "soon" is not a duration (e.g. "50ms")`},
		{"Bursty", map[string]any{"burst_duration": -time.Second}, `bursty: burst_duration = "-1s" is out of range (allowed: 0s or more)`},
		{"Bursty", map[string]any{"burst_duration": 5}, `bursty: burst_duration: want duration, got int 5`},
	} {
		_, err := NewWork(tc.name, tc.params)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NewWork(%q, %v): %v\nwant prefix %q", tc.name, tc.params, err, tc.want)
		}
	}
}

func TestWorkValues(t *testing.T) {
	for _, tc := range []struct {
		work  Work
		str   string
		json  string
		group int
	}{
		{Work{}, "work.spin_wait()", `{"type":"SpinWait"}`, 0},
		{MustWork("FutexPingPong", map[string]any{"spin_iters": uint64(7)}), "work.futex_ping_pong(spin_iters = 7)", `{"type":"FutexPingPong","params":{"spin_iters":7}}`, 2},
		{MustWork("Bursty", map[string]any{"sleep_duration": "1ms"}), `work.bursty(burst_duration = "50ms", sleep_duration = "1ms")`, `{"type":"Bursty","params":{"burst_duration":"50ms","sleep_duration":"1ms"}}`, 0},
		{MustWork("NumaWorkingSetSweep", map[string]any{"target_nodes": []int64{0}}), "work.numa_working_set_sweep(region_kb = 4096, sweep_period_ms = 100, target_nodes = [0])",
			`{"type":"NumaWorkingSetSweep","params":{"region_kb":4096,"sweep_period_ms":100,"target_nodes":[0]}}`, 0},
		{MustWork("Custom", map[string]any{"name": "a \"b\"", "fn": "test_loop"}), `work.custom(name = "a \"b\"", fn = "test_loop", arg = "")`,
			`{"type":"Custom","params":{"arg":"","fn":"test_loop","name":"a \"b\""}}`, 0},
		{MustWork("Sequence", map[string]any{"phases": []Phase{SpinPhase(time.Millisecond), IoPhase(2 * time.Second)}}), `work.sequence(phases = [phase.spin("1ms"), phase.io("2s")])`,
			`{"type":"Sequence","params":{"phases":[{"kind":"spin","duration":"1ms"},{"kind":"io","duration":"2s"}]}}`, 0},
	} {
		if got := tc.work.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
		b, err := json.Marshal(tc.work)
		if err != nil || string(b) != tc.json {
			t.Errorf("json = %s (%v), want %s", b, err, tc.json)
		}
		var back Work
		if err := json.Unmarshal(b, &back); err != nil || back.String() != tc.str {
			t.Errorf("round trip of %s: %v %v", b, back, err)
		}
		if g := tc.work.GroupSize(); g != tc.group {
			t.Errorf("%s: group size %d, want %d", tc.str, g, tc.group)
		}
	}
}

// exampleParams completes the defaults of types that have none usable
// (ktstr's from_name refuses Sequence and Custom too).
var exampleParams = map[string]map[string]any{
	"Sequence": {"phases": []Phase{{Kind: PhaseSpin, Duration: 5 * time.Millisecond}, {Kind: PhaseSleep, Duration: 5 * time.Millisecond}}},
	"Custom":   {"name": "test_loop"},
}

// exampleWork is a type with its defaults, completed by exampleParams.
func exampleWork(typ *Type) Work { return MustWork(typ.Name, exampleParams[typ.Name]) }

// TestCatalogIsConsistent checks what every entry must satisfy, so a new
// work type cannot ship with a broken declaration.
func TestCatalogIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range Types() {
		for _, key := range []string{typ.Name, typ.Ctor} {
			if seen[key] {
				t.Errorf("%s: name %q used twice", typ.Name, key)
			}
			seen[key] = true
		}
		if typ.Doc == "" || typ.New == nil {
			t.Errorf("%s: needs a doc line and a body", typ.Name)
		}
		if _, err := NewWork(typ.Name, exampleParams[typ.Name]); err != nil {
			t.Errorf("%s: defaults (with exampleParams) do not validate: %v", typ.Name, err)
		}
		for _, p := range typ.Params {
			if p.Doc == "" {
				t.Errorf("%s.%s: no doc", typ.Name, p.Name)
			}
			if _, err := coerce(&p, p.Default); err != nil {
				t.Errorf("%s.%s: default %v does not fit kind %s", typ.Name, p.Name, p.Default, p.Kind)
			}
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"0", "0", false},
		{"0-3,8,10-11", "0-3,8,10-11", false},
		{"3,1,2", "1-3", false},
		{"", "", false},
		{"4-2", "", true},
		{"x", "", true},
	} {
		got, err := ParseCPUList(tc.in)
		if (err != nil) != tc.err || (err == nil && FormatCPUList(got) != tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestProcParsers(t *testing.T) {
	open := func(name string) *os.File {
		f, err := os.Open("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	ss, err := ParseSchedstat(open("schedstat"))
	if err != nil || ss != (Schedstat{CPUTimeNs: 123456789, RunDelayNs: 987654, RunCount: 42}) {
		t.Errorf("schedstat: %+v %v", ss, err)
	}
	pages, err := ParseNumaMaps(open("numa_maps"))
	if err != nil || len(pages) != 2 || pages[0] != 295 || pages[1] != 532 {
		t.Errorf("numa_maps: %v %v; want map[0:295 1:532]", pages, err)
	}
	v, err := ParseVmstatField(open("vmstat"), "numa_pages_migrated")
	if err != nil || v != 4242 {
		t.Errorf("vmstat: %d %v; want 4242", v, err)
	}
	if v, err := ParseVmstatField(strings.NewReader("numa_hit 1\n"), "numa_pages_migrated"); err != nil || v != 0 {
		t.Errorf("vmstat without the key: %d %v; want 0", v, err)
	}
	if _, err := ParseSchedstat(strings.NewReader("")); err == nil {
		t.Error("empty schedstat: want an error")
	}
}

func TestCPUReaderAgreesWithGetcpu(t *testing.T) {
	read := cpuReader()
	var set unix.CPUSet
	online, _ := topo.OnlineCPUs()
	for _, c := range online {
		// Pinned, the thread cannot move between the two reads.
		runtime.LockOSThread()
		set.Zero()
		set.Set(c)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Fatal(err)
		}
		if got, want := read(), getcpu(); got != want || got != c {
			t.Errorf("pinned to CPU %d: reader says %d, getcpu %d", c, got, want)
		}
	}
	set.Zero()
	for _, c := range online {
		set.Set(c)
	}
	unix.SchedSetaffinity(0, &set)
	runtime.UnlockOSThread()
}
