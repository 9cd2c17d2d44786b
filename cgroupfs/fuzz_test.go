package cgroupfs

import (
	"bytes"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/internal/kernfs"
)

// parsers are the cgroup file parsers and the mountinfo parser the
// package relies on, each as a function of a file's bytes.
var parsers = map[string]func([]byte) error{
	"events":    func(b []byte) error { _, err := ParseEvents(bytes.NewReader(b)); return err },
	"procs":     func(b []byte) error { _, err := ParseProcs(bytes.NewReader(b)); return err },
	"cgroup":    func(b []byte) error { _, err := ParseProcCgroup(bytes.NewReader(b)); return err },
	"mountinfo": func(b []byte) error { _, err := kernfs.ParseMountInfo(bytes.NewReader(b)); return err },
}

// TestParseMalformed: each parser refuses a malformed file with ErrParse.
func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct{ parser, why, in string }{
		{"cgroup", "v1 only", "4:memory:/x\n"},
		{"events", "key without value", "populated\n"},
		{"procs", "bad pid", "12\nx\n"},
	} {
		if err := parsers[tc.parser]([]byte(tc.in)); !errors.Is(err, ErrParse) {
			t.Errorf("%s, %s: err = %v, want ErrParse", tc.parser, tc.why, err)
		}
	}
}

// FuzzParsers feeds the same bytes to every cgroup file parser and the
// mountinfo parser the package relies on: none panics, and each either
// parses or wraps its package's ErrParse.
func FuzzParsers(f *testing.F) {
	for _, seed := range []string{
		"populated 1\nfrozen 0\n", "populated\n", "12\n34\n", "12\nx\n", "",
		"0::/ktstar-12-5f3a9c01/a\n", "4:memory:/x\n", "0::\n",
		"22 1 0:21 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
		"garbage line\n", "1 2 3 4 5 - \n", strings.Repeat("9", 30) + "\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, parse := range parsers {
			if err := parse(b); err != nil && !errors.Is(err, ErrParse) && !errors.Is(err, kernfs.ErrParse) && !strings.Contains(err.Error(), "token too long") {
				t.Errorf("%s: error %v does not wrap ErrParse", name, err)
			}
		}
	})
}

// FuzzValidateName: a name ValidateName accepts never leaves its parent.
func FuzzValidateName(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../x", "a/../../x", "/abs", ".hidden", "a//b", "a\x00b", "", "web", "ktstar-1-00000000"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if p := path.Join("/parent", name); !strings.HasPrefix(p, "/parent/") || p == "/parent/" {
			t.Fatalf("ValidateName accepted %q, which joins to %s", name, p)
		}
	})
}
