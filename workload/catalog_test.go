package workload

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

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
		{MustWork("EpollStorm", map[string]any{"producers": 2, "consumers": 3}), "work.epoll_storm(producers = 2, consumers = 3, events_per_burst = 32)",
			`{"type":"EpollStorm","params":{"consumers":3,"events_per_burst":32,"producers":2}}`, 5},
		{MustWork("ThunderingHerd", map[string]any{"waiters": 2}), "work.thundering_herd(waiters = 2, batches = 1000, inter_batch_ms = 5)",
			`{"type":"ThunderingHerd","params":{"batches":1000,"inter_batch_ms":5,"waiters":2}}`, 3},
		{MustWork("Bursty", map[string]any{"sleep_duration": "1ms"}), `work.bursty(burst_duration = "50ms", sleep_duration = "1ms")`, `{"type":"Bursty","params":{"burst_duration":"50ms","sleep_duration":"1ms"}}`, 0},
		{MustWork("NumaWorkingSetSweep", map[string]any{"target_nodes": []int64{0}}), "work.numa_working_set_sweep(region_kb = 4096, sweep_period_ms = 100, target_nodes = [0])",
			`{"type":"NumaWorkingSetSweep","params":{"region_kb":4096,"sweep_period_ms":100,"target_nodes":[0]}}`, 0},
		{MustWork("Custom", map[string]any{"name": "a \"b\"", "fn": "test_loop"}), `work.custom(name = "a \"b\"", fn = "test_loop", arg = "")`,
			`{"type":"Custom","params":{"arg":"","fn":"test_loop","name":"a \"b\""}}`, 0},
		// An enum takes any case and keeps the catalog's spelling.
		{MustWork("AluHot", map[string]any{"width": "scalar"}), `work.alu_hot(width = "Scalar")`, `{"type":"AluHot","params":{"width":"Scalar"}}`, 0},
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
		if _, err := NewWork(typ.Name, typ.Example); err != nil {
			t.Errorf("%s: its Example does not validate: %v", typ.Name, err)
		}
		for _, p := range typ.Params {
			if p.Doc == "" {
				t.Errorf("%s.%s: no doc", typ.Name, p.Name)
			}
			if _, err := p.convert(p.Default); err != nil {
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

func TestCPUReaderAgreesWithGetcpu(t *testing.T) {
	read := cpuReader()
	online, _ := topo.OnlineCPUs()
	for _, c := range online {
		// Pinned, the thread cannot move between the two reads.
		runtime.LockOSThread()
		if err := pin(0, []int{c}); err != nil {
			t.Fatal(err)
		}
		if got, want := read(), getcpu(); got != want || got != c {
			t.Errorf("pinned to CPU %d: reader says %d, getcpu %d", c, got, want)
		}
	}
	pin(0, online)
	runtime.UnlockOSThread()
}
