package vm

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Bounds on the script tree copied into the guest, so pointing ktstar at a
// script in $HOME does not pack the whole home directory.
const (
	maxTreeFiles = 2000
	maxTreeBytes = 64 << 20
)

// initramfs is what goes into the guest's root file system.
type initramfs struct {
	init    string   // host path of the /init binary
	libs    []string // host paths of its interpreter and libraries (ELFDeps), copied to the same paths
	files   []File   // Options.Files with guest paths resolved
	script  string   // host path of the script; "" for Options.Command
	cfg     guestConfig
	modules []kmod
}

// newInitramfs lays out the guest for o: the script's tree under
// /ktstar/src, the modules under /ktstar/modules, and the run arguments.
func newInitramfs(o *Options, init string, libs []string, modules []kmod) (*initramfs, error) {
	r := &initramfs{init: init, libs: libs, modules: modules, cfg: guestConfig{Dir: guestSrcDir}}
	for _, m := range modules {
		r.cfg.Modules = append(r.cfg.Modules, path.Join(guestModDir, m.name+".ko"))
	}
	if o.Command != nil {
		r.cfg.Args, r.cfg.Dir = o.Command, "/tmp"
		return r, nil
	}
	script, err := filepath.Abs(o.Script)
	if err != nil {
		return nil, fmt.Errorf("script %q: %w", o.Script, err)
	}
	r.script = script
	r.cfg.HostDir = filepath.Dir(script)
	args := []string{"run", path.Join(guestSrcDir, filepath.Base(script))}
	cfg := &r.cfg
	if o.Run.JSON != "" {
		cfg.JSON = guestResultPath
		args = append(args, "--json", guestResultPath)
	}
	for _, kv := range o.Run.Set {
		args = append(args, "--set", kv)
	}
	if o.Run.Quiet {
		args = append(args, "-q")
	}
	if o.Run.Histogram {
		args = append(args, "--histogram")
	}
	if o.Run.Progress {
		args = append(args, "--progress")
	}
	if o.Run.Scheduler != "" {
		args = append(args, "--scheduler", path.Join(GuestSchedulerDir, filepath.Base(o.Run.Scheduler)))
		for _, a := range o.Run.SchedulerArgs {
			args = append(args, "--scheduler-arg="+a)
		}
		if o.Run.SchedulerReady != "" {
			args = append(args, "--scheduler-ready="+o.Run.SchedulerReady)
		}
		if o.Run.SchedulerTimeout > 0 {
			args = append(args, "--scheduler-timeout="+o.Run.SchedulerTimeout.String())
		}
	}
	if o.Run.Repeat > 1 {
		args = append(args, "--repeat", strconv.Itoa(o.Run.Repeat))
	}
	if o.Run.Interval > 0 {
		args = append(args, "--interval", o.Run.Interval.String())
	}
	if o.Timeout > 0 {
		// The guest's run keeps the time from its own start and, when it
		// is up, stops and reports as a local run does.
		args = append(args, "--timeout", o.Timeout.String())
	}
	if o.Run.WorkOverride != "" {
		args = append(args, "--work-override", o.Run.WorkOverride)
	}
	if len(o.Run.Args) > 0 {
		args = append(append(args, "--"), o.Run.Args...)
	}
	cfg.Args = args
	return r, nil
}

// write streams the archive to w.
func (r *initramfs) write(w io.Writer) error {
	// Errors stick in c and surface at Close, so single calls go unchecked.
	c := NewCPIOWriter(w)
	// The kernel opens /dev/console for init's stdio before anything is
	// mounted, so the node must be in the archive.
	for _, d := range []string{"dev", "proc", "sys", "tmp"} {
		c.Dir(d, 0o755)
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	if err := addFile(c, "init", r.init, 0o755); err != nil {
		return err
	}
	for _, lib := range r.libs {
		if err := addFile(c, lib, lib, 0o755); err != nil {
			return fmt.Errorf("library: %w", err)
		}
	}
	for _, f := range r.files {
		if err := addFile(c, strings.TrimPrefix(f.Guest, "/"), f.Host, 0o755); err != nil {
			return fmt.Errorf("--file: %w", err)
		}
	}
	cfg, err := json.Marshal(r.cfg)
	if err != nil {
		return fmt.Errorf("guest config: %w", err)
	}
	c.Bytes(strings.TrimPrefix(guestConfigPath, "/"), 0o644, cfg)
	for _, m := range r.modules {
		c.Bytes(strings.TrimPrefix(path.Join(guestModDir, m.name+".ko"), "/"), 0o644, m.data)
	}
	if r.script != "" {
		if err := r.addScriptTree(c); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// resolveFiles gives each file its guest path and returns the libraries
// the dynamically linked ones need, each once.
func resolveFiles(files []File) ([]File, []string, error) {
	var libs []string
	out := make([]File, 0, len(files))
	for _, f := range files {
		st, err := os.Stat(f.Host)
		if err != nil {
			return nil, nil, fmt.Errorf("--file %s: %w", f.Host, err)
		}
		if !st.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("--file %s: not a regular file", f.Host)
		}
		if f.Guest == "" {
			if f.Guest, err = filepath.Abs(f.Host); err != nil {
				return nil, nil, fmt.Errorf("--file %s: %w", f.Host, err)
			}
		}
		out = append(out, f)
		if !isELF(f.Host) {
			continue
		}
		deps, err := ELFDeps(f.Host)
		if err != nil {
			return nil, nil, fmt.Errorf("--file %s: %w", f.Host, err)
		}
		libs = appendNew(libs, deps)
	}
	return out, libs, nil
}

// appendNew appends the paths of more not already in libs.
func appendNew(libs, more []string) []string {
	for _, m := range more {
		if !slices.Contains(libs, m) {
			libs = append(libs, m)
		}
	}
	return libs
}

// isELF reports whether the file at p starts with the ELF magic; data
// files are copied as they are.
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "\x7fELF"
}

// addScriptTree copies the script and every .star file below its directory
// (hidden directories skipped) to /ktstar/src, keeping relative paths so
// load("lib/x.star") resolves the same way in the guest.
func (r *initramfs) addScriptTree(c *CPIOWriter) error {
	root := filepath.Dir(r.script)
	files, total := 0, int64(0)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || (filepath.Ext(p) != ".star" && p != r.script) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		total += info.Size()
		if files > maxTreeFiles || total > maxTreeBytes {
			return fmt.Errorf("more than %d .star files or %d MiB below %s: move the script to its own directory", maxTreeFiles, maxTreeBytes>>20, root)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return addFile(c, path.Join(strings.TrimPrefix(guestSrcDir, "/"), filepath.ToSlash(rel)), p, 0o644)
	})
	if err != nil {
		return fmt.Errorf("script tree: %w", err)
	}
	return nil
}

func addFile(c *CPIOWriter, name, hostPath string, perm fs.FileMode) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return c.File(name, perm, st.Size(), f)
}
