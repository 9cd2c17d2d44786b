package clip

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct{ name, in, want string }{
		{"short", "abc", "abc"},
		{"exactly Max", strings.Repeat("é", Max), strings.Repeat("é", Max)},
		{"long", long, strings.Repeat("x", Max) + "… (800 more characters)"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("%s: String = %q, want %q", tc.name, got, tc.want)
		}
	}
	msg := `io_device = "` + long + `": not a block device; also "short"`
	want := `io_device = "` + strings.Repeat("x", Max-1) + `… (802 more characters): not a block device; also "short"`
	if got := Quoted(msg); got != want {
		t.Errorf("Quoted = %q\nwant      %q", got, want)
	}
	if got := Quoted(`say "a \"b\" c"`); got != `say "a \"b\" c"` {
		t.Errorf("Quoted changed a short message: %q", got)
	}
}
