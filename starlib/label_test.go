package starlib

import (
	"strings"
	"testing"

	"github.com/ktstar/ktstar/workload"
)

// TestSpawnLabel: the label is the first of explicit, cgroup, comm, a
// custom work's name and the work type, and repeats are numbered in
// the order of the script.
func TestSpawnLabel(t *testing.T) {
	custom := workload.MustWork("Custom", map[string]any{"name": "napper", "fn": "f"})
	for _, tc := range []struct {
		explicit, cgroup, comm string
		work                   workload.Work
		want                   string
	}{
		{"web", "db", "srv", custom, "web"},
		{"", "db", "srv", custom, "db"},
		{"", "", "srv", custom, "srv"},
		{"", "", "", custom, "napper"},
		{"", "", "", workload.Work{}, "SpinWait"},
	} {
		c := workload.Config{Workers: 1, Work: tc.work, Comm: tc.comm}
		if got := SpawnLabel(tc.explicit, tc.cgroup, c); got != tc.want {
			t.Errorf("SpawnLabel(%q, %q, comm %q, %s) = %q, want %q", tc.explicit, tc.cgroup, tc.comm, tc.work.Name(), got, tc.want)
		}
	}
	s := NewSession(Options{})
	var got []string
	for _, base := range []string{"web", "SpinWait", "web", "SpinWait", "web"} {
		got = append(got, s.spawnLabel(base))
	}
	if strings.Join(got, " ") != "web SpinWait web#2 SpinWait#2 web#3" {
		t.Errorf("labels %q", got)
	}
}

// TestCheckLabel: a label is printable, unpadded and short.
func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"", ""},
		{"web", ""},
		{"web server #1", ""},
		{" web", "starts or ends with a space"},
		{"web\n", "starts or ends with a space"},
		{"we\x00b", "unprintable character U+0000"},
		{strings.Repeat("x", 65), "is 65 bytes, want at most 64"},
	} {
		err := checkLabel(tc.in)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkLabel(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}
