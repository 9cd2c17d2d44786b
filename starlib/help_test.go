package starlib

import (
	"strings"
	"testing"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// TestHelp checks what help(x) prints for each kind of value: a work
// constructor and a work value print the catalog's doc (ktstar doc's
// text), a module its members, a builtin its signature.
func TestHelp(t *testing.T) {
	s := NewSession(Options{})
	pre := s.Predeclared()
	var doc strings.Builder
	bursty, _ := Work.Members["bursty"].(*starlark.Builtin)
	if bursty == nil {
		t.Fatal("no work.bursty")
	}
	typ, _ := workload.Find("bursty")
	WriteTypeDoc(&doc, typ)
	w, err := workload.NewWork("Bursty", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    starlark.Value
		want []string
	}{
		{"work constructor", bursty, []string{doc.String()}},
		{"work value", WorkValue{W: w}, []string{doc.String()}},
		{"module", pre["work"], []string{"bursty", "Spin for a wall-clock burst", "from_name"}},
		{"builtin", pre["spawn"], []string{"def spawn(cfg, cgroup = None) -> handle"}},
		{"starlark builtin", starlark.Universe["len"], []string{"len: a Starlark built-in"}},
		{"plain value", starlark.MakeInt(3), []string{"3: a int"}},
	} {
		if got := Help(tc.v); !containsAll(got, tc.want) {
			t.Errorf("%s: Help = %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
	if !strings.Contains(doc.String(), "burst_duration") {
		t.Errorf("bursty's doc lacks its parameters:\n%s", doc.String())
	}
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
