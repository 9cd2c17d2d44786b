package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/testenv"
)

// writeTree creates files (relative path → content) below dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInitramfsLayout(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"main.star":        "load('lib/util.star', 'f')\n",
		"lib/util.star":    "def f(): pass\n",
		"notes.txt":        "not shipped",
		".git/hooks.star":  "hidden: not shipped",
		"deep/er/x.star":   "x = 1\n",
		"fake-init-binary": "ELF?",
		"lib/fake-libc.so": "libc",
	})
	o := &Options{Script: filepath.Join(dir, "main.star"),
		Run:     RunArgs{JSON: "/host/out.json", Set: []string{"a=1", "b=x y"}, Quiet: true, Histogram: true, Progress: true, Repeat: 3, Interval: 250 * time.Millisecond, WorkOverride: "YieldHeavy", Args: []string{"--flag", "v"}},
		Timeout: 90 * time.Second}
	lib := filepath.Join(dir, "lib/fake-libc.so")
	r, err := newInitramfs(o, filepath.Join(dir, "fake-init-binary"), []string{lib}, []kmod{{"virtio", []byte("v")}, {"virtio_blk", []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.write(&buf); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range readCPIO(t, buf.Bytes()) {
		if e.mode&modeReg == modeReg {
			files[e.name] = e.data
		}
	}
	for name, want := range map[string]string{
		"init":                         "ELF?",
		"ktstar/src/main.star":         "load('lib/util.star', 'f')\n",
		"ktstar/src/lib/util.star":     "def f(): pass\n",
		"ktstar/src/deep/er/x.star":    "x = 1\n",
		"ktstar/modules/virtio.ko":     "v",
		"ktstar/modules/virtio_blk.ko": "b",
		strings.TrimPrefix(lib, "/"):   "libc", // a library at its host path
	} {
		if got, ok := files[name]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"ktstar/src/notes.txt", "ktstar/src/.git/hooks.star", "ktstar/src/fake-init-binary"} {
		if _, ok := files[name]; ok {
			t.Errorf("%s shipped, want it left out", name)
		}
	}
	var cfg guestConfig
	if err := json.Unmarshal([]byte(files["ktstar/guest.json"]), &cfg); err != nil {
		t.Fatal(err)
	}
	want := guestConfig{
		Args:    []string{"run", "/ktstar/src/main.star", "--json", guestResultPath, "--set", "a=1", "--set", "b=x y", "-q", "--histogram", "--progress", "--repeat", "3", "--interval", "250ms", "--timeout", "1m30s", "--work-override", "YieldHeavy", "--", "--flag", "v"},
		Dir:     "/ktstar/src",
		HostDir: dir,
		Modules: []string{"/ktstar/modules/virtio.ko", "/ktstar/modules/virtio_blk.ko"},
		JSON:    guestResultPath,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("guest config %+v, want %+v", cfg, want)
	}
}

func TestELFDeps(t *testing.T) {
	// /bin/sh is a dynamically linked host binary: its interpreter comes
	// first, then libc, each once.
	deps, err := ELFDeps("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 2 || !strings.Contains(filepath.Base(deps[0]), "ld-") {
		t.Fatalf("ELFDeps(/bin/sh) = %q, want the interpreter first, then libraries", deps)
	}
	seen := map[string]bool{}
	libc := false
	for _, d := range deps {
		if seen[d] {
			t.Errorf("%s listed twice in %q", d, deps)
		}
		seen[d] = true
		libc = libc || filepath.Base(d) == "libc.so.6"
		if _, err := os.Stat(d); err != nil {
			t.Errorf("listed %s: %v", d, err)
		}
	}
	if !libc {
		t.Errorf("ELFDeps(/bin/sh) = %q, no libc.so.6", deps)
	}

	// This test binary links no cgo package, so it is static: it needs
	// nothing.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if deps, err := ELFDeps(self); err != nil || deps != nil {
		t.Errorf("ELFDeps(static test binary) = %q, %v; want nothing", deps, err)
	}

	if _, err := ELFDeps("/etc/hostname"); err == nil {
		t.Error("ELFDeps of a text file: want an error")
	}
	if _, err := ELFDeps(missingLibBinary(t)); err == nil || !strings.Contains(err.Error(), "needs libq.so.6: not found") {
		t.Errorf("ELFDeps(binary needing libq.so.6) = %v, want an error naming libq.so.6", err)
	}
}

// missingLibBinary copies /bin/sh with its DT_NEEDED "libc.so.6" renamed
// "libq.so.6" (same length, so the ELF stays valid): a binary whose
// library exists nowhere.
func missingLibBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\x00libc.so.6\x00")) {
		t.Skip("/bin/sh does not name libc.so.6")
	}
	p := filepath.Join(t.TempDir(), "sh")
	if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("\x00libc.so.6\x00"), []byte("\x00libq.so.6\x00")), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{
		"virtio_blk.ko": "virtio_blk", "virtio-rng.ko": "virtio_rng", "virtio_pci.ko.xz": "virtio_pci",
		"x.ko.zst": "x", "y.ko.gz": "y", "modules.dep": "", "z.o": "",
	} {
		got, ok := moduleName(file)
		if got != want || ok != (want != "") {
			t.Errorf("moduleName(%q) = %q, %v; want %q", file, got, ok, want)
		}
	}
}

// TestRunErrors covers the failures Run reports before starting QEMU.
func TestRunErrors(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.star")
	writeTree(t, filepath.Dir(script), map[string]string{"s.star": "pass\n"})
	tests := []struct {
		name string
		o    Options
		is   error
		want string
	}{
		{"no qemu", Options{Script: script, QEMU: "/nonexistent/qemu-system-x86_64"}, ErrNoQEMU, "install Debian's qemu-system-x86"},
		// /bin/true stands in for QEMU: the kernel check comes first.
		{"no kernel", Options{Script: script, QEMU: "/bin/true", Kernel: "/nonexistent/bzImage"}, ErrNoKernel, "/nonexistent/bzImage"},
		{"no script", Options{Script: "/nonexistent/x.star"}, nil, "script: stat /nonexistent/x.star"},
		{"bad accel", Options{Script: script, Accel: "hvf"}, nil, `accel "hvf": want auto, kvm or tcg`},
		{"bad topology", Options{Script: script, CPUs: 3, NUMA: 2}, nil, "do not split evenly"},
		{"init library missing", Options{Script: script, QEMU: "/bin/true", Kernel: "/etc/hostname", Init: missingLibBinary(t)}, nil, "needs libq.so.6: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := Run(context.Background(), tt.o)
			if code != 2 || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %d, %v; want 2 and an error containing %q", code, err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// TestHostPaths checks that a guest's run names the script tree by its
// host paths, and that nothing else is rewritten.
func TestHostPaths(t *testing.T) {
	msg := "/ktstar/src/lib/x.star:3:1: error: boom\n  /ktstar/src/main.star:1:1: in <toplevel>"
	t.Setenv(hostDirEnv, "/home/u/proj")
	t.Setenv(GuestEnv, "")
	if got := HostPaths(msg); got != msg {
		t.Errorf("outside a guest: %q, want it unchanged", got)
	}
	t.Setenv(GuestEnv, "1")
	want := "/home/u/proj/lib/x.star:3:1: error: boom\n  /home/u/proj/main.star:1:1: in <toplevel>"
	if got := HostPaths(msg); got != want {
		t.Errorf("HostPaths = %q, want %q", got, want)
	}
}

// buildDynamic compiles, with gcc, a program linked against a library of
// its own (libktstub.so, found through DT_RUNPATH) and returns both paths.
func buildDynamic(t *testing.T) (prog, lib string) {
	t.Helper()
	testenv.NeedCC(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"stub.c": "int stub(void) { return 7; }\n",
		"prog.c": "#include <stdio.h>\nint stub(void);\nint main(void) { printf(\"stub %d\\n\", stub()); return 0; }\n",
	})
	lib, prog = filepath.Join(dir, "libktstub.so"), filepath.Join(dir, "prog")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", lib, filepath.Join(dir, "stub.c")},
		{"-o", prog, filepath.Join(dir, "prog.c"), "-L" + dir, "-lktstub", "-Wl,-rpath," + dir},
	} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	return prog, lib
}

// TestResolveFiles copies a gcc-built dynamic program with its own library
// and libc, a data file as it is, and fails naming a library removed from
// the host.
func TestResolveFiles(t *testing.T) {
	prog, lib := buildDynamic(t)
	data := filepath.Join(t.TempDir(), "data.txt")
	writeTree(t, filepath.Dir(data), map[string]string{"data.txt": "\x7fEL"})
	files, libs, err := resolveFiles([]File{{Host: prog, Guest: "/bin/prog"}, {Host: data}})
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Guest != "/bin/prog" || files[1].Guest != data {
		t.Errorf("guest paths %q, %q: want /bin/prog and the data file's host path", files[0].Guest, files[1].Guest)
	}
	if !slices.Contains(libs, lib) || !slices.ContainsFunc(libs, func(l string) bool { return filepath.Base(l) == "libc.so.6" }) {
		t.Errorf("libraries %q: want %s and libc.so.6", libs, lib)
	}
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}
	_, _, err = resolveFiles([]File{{Host: prog}})
	if err == nil || !strings.Contains(err.Error(), "needs libktstub.so") || !strings.Contains(err.Error(), "--file "+prog) {
		t.Fatalf("resolveFiles without the library: %v, want an error naming libktstub.so and the file", err)
	}
}

func TestParseFile(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		want    File
	}{
		{in: "a/b", want: File{Host: "a/b"}},
		{in: "a:/usr/bin/a", want: File{Host: "a", Guest: "/usr/bin/a"}},
		{in: ":/x", err: "want HOST[:GUEST]"},
		{in: "a:rel", err: `the guest path "rel" must be absolute`},
	} {
		got, err := ParseFile(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseFile(%q) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseFile(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
