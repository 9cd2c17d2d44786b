package vm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestCachedKernel(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		// complete, bookworm layout, older
		"linux-image-6.1.0-56_6.1.192-2_amd64/boot/vmlinuz-6.1.0-56-cloud-amd64":                "k1",
		"linux-image-6.1.0-56_6.1.192-2_amd64/lib/modules/6.1.0-56-cloud-amd64/modules.builtin": "",
		"linux-image-6.1.0-56_6.1.192-2_amd64/" + completeMark:                                  "",
		// complete, merged-/usr layout, newer
		"linux-image-6.1.0-9_6.1.200-1_amd64/boot/vmlinuz-6.1.0-9-cloud-amd64":                "k2",
		"linux-image-6.1.0-9_6.1.200-1_amd64/usr/lib/modules/6.1.0-9-cloud-amd64/modules.dep": "",
		"linux-image-6.1.0-9_6.1.200-1_amd64/" + completeMark:                                 "",
		// never finished extracting
		"linux-image-6.1.0-99_6.1.300-1_amd64/boot/vmlinuz-6.1.0-99-cloud-amd64": "k3",
		// an abandoned fetch
		".fetch-123/root/boot/vmlinuz-9":  "k4",
		".fetch-123/root/" + completeMark: "",
	})
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "linux-image-6.1.0-56_6.1.192-2_amd64", completeMark), old, old); err != nil {
		t.Fatal(err)
	}
	k, ok := cachedKernel(dir)
	entry := filepath.Join(dir, "linux-image-6.1.0-9_6.1.200-1_amd64")
	want := Kernel{
		Image:   filepath.Join(entry, "boot", "vmlinuz-6.1.0-9-cloud-amd64"),
		Modules: filepath.Join(entry, "usr", "lib", "modules", "6.1.0-9-cloud-amd64"),
	}
	if !ok || k != want {
		t.Fatalf("cachedKernel = %+v, %v; want the newest complete entry %+v", k, ok, want)
	}
	if _, ok := cachedKernel(filepath.Join(dir, "missing")); ok {
		t.Error("a missing cache yielded a kernel")
	}
}

// TestDebianModules resolves the guest modules in Debian's cloud kernel,
// when it is already cached (guest tests fetch it), and checks every
// module comes after its dependencies.
func TestDebianModules(t *testing.T) {
	dir, err := KernelCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	k, ok := cachedKernel(dir)
	if !ok {
		t.Skip("no cached Debian kernel (make test-guest fetches it)")
	}
	mods, err := resolveModules(k.Modules, guestModules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		deps, err := moduleDepends(m.data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			if !slices.Contains(names, d) {
				t.Errorf("%s loads before its dependency %s (order %v)", m.name, d, names)
			}
		}
		names = append(names, m.name)
	}
	for _, want := range guestModules {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %v", want, names)
		}
	}
	t.Logf("load order: %v", names)
	if _, err := DefaultKernel(context.Background(), os.Stderr); err != nil {
		t.Errorf("DefaultKernel with a cached kernel: %v", err)
	}
}
