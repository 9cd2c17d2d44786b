package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// guestModules are the modules the guest needs when they are not built
// in: virtio PCI transport, block device (the --disk scratch disk) and
// console (the data channel's virtio-serial port). Their dependencies are
// found from each module's .modinfo.
var guestModules = []string{"virtio_pci", "virtio_blk", "virtio_console"}

// kmod is one kernel module ready to ship: its name and its uncompressed
// ELF image.
type kmod struct {
	name string
	data []byte
}

// moduleSuffixes are the module file endings distributions ship, plain
// first. Debian's 6.1 kernels ship plain .ko; newer ones .ko.xz.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// resolveModules finds names and everything they depend on in a
// lib/modules/<version> tree and returns them in load order (dependencies
// first). Modules the kernel has built in (modules.builtin) are skipped.
func resolveModules(dir string, names []string) ([]kmod, error) {
	files := map[string]string{} // module name → path
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := moduleName(d.Name()); ok && !d.IsDir() {
			files[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel modules %s: %w", dir, err)
	}
	builtin, err := readBuiltin(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	var out []kmod
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("kernel modules %s: dependency cycle through %s", dir, name)
		case 2:
			return nil
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		path, ok := files[name]
		if !ok {
			if builtin[name] {
				return nil
			}
			return fmt.Errorf("kernel module %s (needed by %s) is neither in %s nor built in", name, from, dir)
		}
		data, err := readModule(path)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(data)
		if err != nil {
			return fmt.Errorf("kernel module %s: %w", path, err)
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		out = append(out, kmod{name: name, data: data})
		return nil
	}
	for _, n := range names {
		if err := visit(n, "the guest"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// moduleName maps a module file name to the kernel's module name (dashes
// become underscores, as modprobe does).
func moduleName(file string) (string, bool) {
	for _, s := range moduleSuffixes {
		if base, ok := strings.CutSuffix(file, s); ok {
			return strings.ReplaceAll(base, "-", "_"), true
		}
	}
	return "", false
}

func readBuiltin(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := moduleName(filepath.Base(sc.Text())); ok {
			out[name] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// readModule returns a module's uncompressed image. gzip is decompressed in
// Go; xz and zstd (no standard-library decoder) by the system tools.
func readModule(path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("kernel module %s: %w", path, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("kernel module %s: %w", path, err)
		}
		return b, nil
	}
	tool, pkg := "xz", "xz-utils"
	if strings.HasSuffix(path, ".zst") {
		tool, pkg = "zstd", "zstd"
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, "-dc", path)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("decompress kernel module %s with %s (package %s): %w: %s", path, tool, pkg, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return b, nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(image []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}
