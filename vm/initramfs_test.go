package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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
	})
	o := &Options{Script: filepath.Join(dir, "main.star"),
		Run: RunArgs{JSON: "/host/out.json", Set: []string{"a=1", "b=x y"}, Quiet: true, Repeat: 3, Interval: 250 * time.Millisecond, Args: []string{"--flag", "v"}}}
	r, err := newInitramfs(o, filepath.Join(dir, "fake-init-binary"), []kmod{{"virtio", []byte("v")}, {"virtio_blk", []byte("b")}})
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
		Args:    []string{"run", "/ktstar/src/main.star", "--json", guestResultPath, "--set", "a=1", "--set", "b=x y", "-q", "--repeat", "3", "--interval", "250ms", "--", "--flag", "v"},
		Dir:     "/ktstar/src",
		Modules: []string{"/ktstar/modules/virtio.ko", "/ktstar/modules/virtio_blk.ko"},
		JSON:    guestResultPath,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("guest config %+v, want %+v", cfg, want)
	}
}

func TestCheckStatic(t *testing.T) {
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("checkStatic(/bin/sh) = %v, want a dynamically-linked error", err)
	}
	if err := checkStatic("/etc/hostname"); err == nil {
		t.Error("checkStatic of a text file: want an error")
	}
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
		{"dynamic init", Options{Script: script, QEMU: "/bin/true", Kernel: "/etc/hostname", Init: "/bin/sh"}, nil, "CGO_ENABLED=0"},
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
