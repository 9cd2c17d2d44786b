package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ktstar/ktstar/internal/testenv"
)

const oneSpawn = `
h = spawn(workload(workers = 1))
h.start()
sleep("50ms")
h.stop()
print("ran")
`

// TestJSONUnwritableFailsEarly: an --json path that cannot be written
// fails with exit 2 before the script runs.
func TestJSONUnwritableFailsEarly(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "no", "out.json"), "cannot write beside it"},
		{"a directory", dir, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := ktstar(t, "", "--json", tc.path, script(t, oneSpawn))
			if code != 2 || out != "" || !strings.Contains(errs, "--json "+tc.path+": "+tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 before the script ran, saying %q", code, out, errs, tc.want)
			}
		})
	}
}

// TestJSONFullDiskKeepsOldFile: on a full file system (a small tmpfs the
// test mounts) the run fails with exit 2 and the previous result stays
// in place, whole; no temp file is left.
func TestJSONFullDiskKeepsOldFile(t *testing.T) {
	testenv.NeedRoot(t) // to mount a tmpfs
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	path := filepath.Join(dir, "out.json")
	old := []byte("{\"old\": true}\n")
	writeFile(t, path, string(old))
	// Fill the file system to the last byte.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := filler.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()

	out, errs, code := ktstar(t, "", "--json", path, script(t, oneSpawn))
	if code != 2 || !strings.Contains(errs, "no space left on device (the file was left as it was)") {
		t.Errorf("exit %d, stderr %q; want 2 naming the full disk", code, errs)
	}
	if out != "ran\n" {
		t.Errorf("stdout %q: the script should have run", out)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != string(old) {
		t.Errorf("%s = %q, %v; want the old result unchanged", path, b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left: %v, want out.json and filler", names)
	}
}
