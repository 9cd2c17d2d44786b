package owner

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		state      byte
		start      uint64
		err        string
	}{
		{"comm with spaces and parentheses", "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 rest\n", 'S', 987654, ""},
		{"short", "1 (x) S 1 2\n", 0, 0, "stat has 3 fields after comm"},
		{"no comm", "1 x S", 0, 0, "no ')'"},
		{"bad start", "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 zz 19\n", 0, 0, `start time "zz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, start, err := ParseStat([]byte(tc.line))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || state != tc.state || start != tc.start {
				t.Errorf("got %c %d %v; want %c %d", state, start, err, tc.state, tc.start)
			}
		})
	}
	// The real file of this process parses too.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if state, start, err := ParseStat(b); err != nil || !strings.ContainsRune("RS", rune(state)) || start == 0 {
		t.Errorf("/proc/self/stat: state %c, start %d, %v", state, start, err)
	}
}

func TestRoundTrip(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if self.Pid != os.Getpid() || self.PidNS == 0 || self.Start == 0 {
		t.Fatalf("Self() = %+v", self)
	}
	back, err := Parse(self.String())
	if err != nil || back != self {
		t.Errorf("Parse(%q) = %+v, %v; want %+v", self.String(), back, err, self)
	}
	again, _ := Self()
	if again.Run == self.Run {
		t.Errorf("two Self() calls share the run id %s", self.Run)
	}
	for _, bad := range []string{"", "1234", "zzzzzzzz.1.2.3.abcdef01", "abcdef01.1.0.3.abcdef01", "abcdef01.1.2.3.abc", "abcdef01.x.2.3.abcdef01"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

// TestGone: only a provable end counts; an owner that cannot be checked
// from here is alive.
func TestGone(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*ID)) ID { id := self; f(&id); return id }
	for _, tc := range []struct {
		name string
		id   ID
		gone bool
	}{
		{"this process", self, false},
		{"pid exited", with(func(id *ID) { id.Pid = dead.Process.Pid }), true},
		{"pid reused", with(func(id *ID) { id.Start++ }), true},
		{"another boot", with(func(id *ID) { id.Boot = "00000000" }), true},
		{"another pid namespace", with(func(id *ID) { id.Pid = dead.Process.Pid; id.PidNS++ }), false},
	} {
		if got := tc.id.Gone(); got != tc.gone {
			t.Errorf("%s: Gone() = %v, want %v", tc.name, got, tc.gone)
		}
	}
}
