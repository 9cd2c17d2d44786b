package owner

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/prometheus/procfs"
)

func TestStartTime(t *testing.T) {
	proc, err := procfs.NewFS("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	// comm holds spaces and parentheses: fields count from the last ')'.
	if start, err := startTimeIn(proc, 4242); err != nil || start != 987654 {
		t.Errorf("pid 4242: %d, %v; want start 987654", start, err)
	}
	for _, pid := range []int{4243, 4244} { // a zombie, and no such process
		if start, err := startTimeIn(proc, pid); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid %d: %d, %v; want os.ErrNotExist", pid, start, err)
		}
	}
	// This process is alive and has a start time.
	if start, err := startTime(os.Getpid()); err != nil || start == 0 {
		t.Errorf("this process: %d, %v", start, err)
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
