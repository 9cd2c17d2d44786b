package vm

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ELFDeps returns the host paths of what the dynamic loader needs to run
// the ELF executable at path: its program interpreter and every library
// its DT_NEEDED entries name, transitively, each once, interpreter first.
// A static executable needs nothing (nil). A guest that holds these files
// at the same paths runs the executable, with no ld.so.cache: the
// libraries are looked up the way the loader does without a cache
// (DT_RPATH/DT_RUNPATH with $ORIGIN, LD_LIBRARY_PATH, /etc/ld.so.conf and
// the system directories). A library that is not found is an error naming
// it and the object that needs it.
func ELFDeps(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("%s: read PT_INTERP: %w", path, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return nil, nil
	}
	if _, err := os.Stat(interp); err != nil {
		return nil, fmt.Errorf("%s: program interpreter: %w", path, err)
	}
	r := &libResolver{class: f.Class, machine: f.Machine, system: systemLibDirs(interp), seen: map[string]bool{}}
	r.add(interp)
	if err := r.walk(path, f); err != nil {
		return nil, err
	}
	return r.files, nil
}

// libResolver finds the libraries of one executable and its dependencies.
type libResolver struct {
	class   elf.Class
	machine elf.Machine
	system  []string        // LD_LIBRARY_PATH, ld.so.conf and the default directories, in search order
	seen    map[string]bool // sonames and paths already added
	files   []string
}

func (r *libResolver) add(path string) {
	if !r.seen[path] {
		r.seen[path] = true
		r.files = append(r.files, path)
	}
}

// walk adds the libraries obj (already open as f) needs, and theirs.
func (r *libResolver) walk(obj string, f *elf.File) error {
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return fmt.Errorf("%s: DT_NEEDED: %w", obj, err)
	}
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		paths, _ := f.DynString(tag)
		for _, p := range paths {
			for _, d := range filepath.SplitList(p) {
				dirs = append(dirs, strings.NewReplacer("$ORIGIN", filepath.Dir(obj), "${ORIGIN}", filepath.Dir(obj)).Replace(d))
			}
		}
	}
	dirs = append(dirs, r.system...)
	for _, name := range needed {
		if r.seen["soname:"+name] {
			continue
		}
		r.seen["soname:"+name] = true
		lib, lf, err := r.find(name, dirs)
		if err != nil {
			return fmt.Errorf("%s needs %s: %w", obj, name, err)
		}
		r.add(lib)
		err = r.walk(lib, lf)
		lf.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// find opens the first library called name in dirs that matches the
// executable's class and machine, as the loader skips the others.
func (r *libResolver) find(name string, dirs []string) (string, *elf.File, error) {
	cands := dirs
	if strings.Contains(name, "/") {
		cands = []string{""}
	}
	for _, d := range cands {
		p := filepath.Join(d, name)
		lf, err := elf.Open(p)
		if err != nil {
			continue
		}
		if lf.Class == r.class && lf.Machine == r.machine {
			return p, lf, nil
		}
		lf.Close()
	}
	return "", nil, fmt.Errorf("not found in %s", strings.Join(dirs, ":"))
}

// systemLibDirs is the loader's search path after an object's own:
// LD_LIBRARY_PATH, the directories of /etc/ld.so.conf (what ld.so.cache
// is built from) and the default directories, the interpreter's own
// first.
func systemLibDirs(interp string) []string {
	var dirs []string
	dirs = append(dirs, filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	dirs = append(dirs, ldSoConf("/etc/ld.so.conf", 0)...)
	dirs = append(dirs, filepath.Dir(interp),
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
	return dirs
}

// ldSoConf reads the directories of an ld.so.conf file and the files it
// includes (globs, relative to its directory), depth-bounded against loops.
func ldSoConf(path string, depth int) []string {
	f, err := os.Open(path)
	if err != nil || depth > 4 {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if pat, ok := strings.CutPrefix(line, "include"); ok && (pat == "" || pat[0] == ' ' || pat[0] == '\t') {
			pat = strings.TrimSpace(pat)
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(path), pat)
			}
			matches, _ := filepath.Glob(pat)
			for _, m := range matches {
				dirs = append(dirs, ldSoConf(m, depth+1)...)
			}
			continue
		}
		if line != "" {
			dirs = append(dirs, line)
		}
	}
	return dirs
}
