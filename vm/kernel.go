package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kernelMeta is the Debian package that always depends on the current
// cloud kernel image.
const kernelMeta = "linux-image-cloud-amd64"

// Kernel is a bootable kernel and its module tree.
type Kernel struct {
	Image   string // bzImage (vmlinuz)
	Modules string // lib/modules/<version>, "" if none
}

// KernelCacheDir is where DefaultKernel keeps extracted kernels:
// $XDG_CACHE_HOME/ktstar/kernel, usually ~/.cache/ktstar/kernel.
func KernelCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kernel cache: %w", err)
	}
	return filepath.Join(base, "ktstar", "kernel"), nil
}

// DefaultKernel returns Debian's cloud kernel from the cache, fetching it
// on first use without installing it: `apt-get download` of the versioned
// image package linux-image-cloud-amd64 depends on, then `dpkg-deb -x`
// into the cache. A progress line goes to log. To update, delete the
// cache directory.
func DefaultKernel(ctx context.Context, log io.Writer) (Kernel, error) {
	dir, err := KernelCacheDir()
	if err != nil {
		return Kernel{}, err
	}
	if k, ok := cachedKernel(dir); ok {
		return k, nil
	}
	return fetchKernel(ctx, dir, log)
}

// completeMark is written last into a cache entry, so a half-extracted
// kernel is never used.
const completeMark = ".complete"

// cachedKernel picks the most recently completed cache entry (Debian's
// version strings do not sort as text: 6.1.0-9 vs 6.1.0-56).
func cachedKernel(dir string) (Kernel, bool) {
	entries, _ := os.ReadDir(dir)
	var best Kernel
	var bestTime time.Time
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name(), completeMark))
		if err != nil || !st.ModTime().After(bestTime) {
			continue
		}
		if k, err := findKernel(filepath.Join(dir, e.Name())); err == nil {
			best, bestTime = k, st.ModTime()
		}
	}
	return best, !bestTime.IsZero()
}

// findKernel locates boot/vmlinuz-* and its module tree in an extracted
// package (lib/modules, or usr/lib/modules on merged-/usr releases).
func findKernel(root string) (Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return Kernel{}, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", root, len(images))
	}
	ver := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	for _, m := range []string{"lib/modules", "usr/lib/modules"} {
		p := filepath.Join(root, m, ver)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return Kernel{Image: images[0], Modules: p}, nil
		}
	}
	return Kernel{}, fmt.Errorf("%s: no module tree for kernel %s", root, ver)
}

func fetchKernel(ctx context.Context, dir string, log io.Writer) (Kernel, error) {
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Kernel{}, fmt.Errorf("%w: no cached kernel in %s and %s is not available to fetch Debian's %s; pass --kernel PATH", ErrNoKernel, dir, tool, kernelMeta)
		}
	}
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return Kernel{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	fmt.Fprintf(log, "ktstar vm: fetching kernel %s (first use, cached in %s)...\n", pkg, dir)
	// As root apt would hand the download to the _apt user, which cannot
	// write to the cache; the package is only unpacked, never installed.
	if _, err := runTool(ctx, tmp, "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg); err != nil {
		return Kernel{}, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return Kernel{}, fmt.Errorf("%w: apt-get download %s left %d .deb files", ErrNoKernel, pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := runTool(ctx, tmp, "dpkg-deb", "-x", debs[0], root); err != nil {
		return Kernel{}, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	if _, err := findKernel(root); err != nil {
		return Kernel{}, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	if err := os.WriteFile(filepath.Join(root, completeMark), nil, 0o644); err != nil {
		return Kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	final := filepath.Join(dir, strings.TrimSuffix(filepath.Base(debs[0]), ".deb"))
	// A concurrent fetch may have won the race; its copy is as good.
	if err := os.Rename(root, final); err != nil && !errors.Is(err, fs.ErrExist) {
		return Kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	k, err := findKernel(final)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	fmt.Fprintf(log, "ktstar vm: kernel %s ready (%.1fs)\n", filepath.Base(k.Image), time.Since(start).Seconds())
	return k, nil
}

// kernelPackage resolves the meta package to the versioned image package
// its candidate version depends on, e.g. linux-image-6.1.0-56-cloud-amd64.
func kernelPackage(ctx context.Context) (string, error) {
	out, err := runTool(ctx, "", "apt-cache", "show", "--no-all-versions", kernelMeta)
	if err != nil {
		return "", fmt.Errorf("%w: %v (run apt-get update first?)", ErrNoKernel, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if deps, ok := strings.CutPrefix(sc.Text(), "Depends:"); ok {
			for _, d := range strings.Split(deps, ",") {
				if name := strings.Fields(d); len(name) > 0 && strings.HasPrefix(name[0], "linux-image-") {
					return name[0], nil
				}
			}
		}
	}
	return "", fmt.Errorf("%w: apt-cache show %s names no linux-image dependency", ErrNoKernel, kernelMeta)
}

// runTool runs a host tool and returns its stdout, or an error holding its
// stderr.
func runTool(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
