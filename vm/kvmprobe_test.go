package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKVMProbeRecord(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	qemu := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(qemu, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newKVMProbe(qemu)
	if want := filepath.Join(cache, "ktstar", "kernel", kvmProbeName); p.path != want {
		t.Fatalf("record path %q, want %q", p.path, want)
	}
	if _, failed := p.failed(); failed {
		t.Fatal("a fresh cache remembers a failure")
	}
	if where := p.remember("KVM guest printed nothing in 5s"); !strings.Contains(where, p.path) {
		t.Errorf("remember says %q, want the record's path", where)
	}
	note, failed := newKVMProbe(qemu).failed()
	if !failed || !strings.Contains(note, "printed nothing in 5s") {
		t.Fatalf("failed() = %q, %v after remember", note, failed)
	}
	// An upgraded QEMU (another size) probes again.
	if err := os.WriteFile(qemu, []byte("v2.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, failed := newKVMProbe(qemu).failed(); failed {
		t.Error("the record still applies after QEMU changed")
	}
	p.forget()
	if _, err := os.Stat(p.path); !os.IsNotExist(err) {
		t.Errorf("forget left %s: %v", p.path, err)
	}
	if m, _ := filepath.Glob(p.path + "*"); len(m) > 0 {
		t.Errorf("files left: %v", m)
	}
}

// TestKVMNoteOnce checks that a note is news once per host and reason.
func TestKVMNoteOnce(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	qemu := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(qemu, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		why  string
		news bool
	}{
		{"open /dev/kvm: no such file or directory", true},
		{"open /dev/kvm: no such file or directory", false}, // the next run: quiet
		{"open /dev/kvm: permission denied", true},          // another reason is news
		{"open /dev/kvm: permission denied", false},
	} {
		if got := newKVMRecord(qemu, kvmUnusableName).firstTime(tc.why); got != tc.news {
			t.Errorf("run %d: firstTime(%q) = %v, want %v", i, tc.why, got, tc.news)
		}
	}
}
