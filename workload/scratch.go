package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstar/ktstar/internal/owner"
)

// Scratch files are named <kind>-<owner ID>-<worker>, e.g.
// io-7a211340.4026531836.2158.98765.5f3a9c01-0: the owner is the ktstar
// process that spawned the worker (internal/owner). A run killed with
// SIGKILL cannot remove its files; the next spawn of a type with scratch
// files sweeps those whose owner is provably gone from their directory.

// scratchToken is worker i's token: its scratch files' name after the kind.
func scratchToken(id owner.ID, i int) string { return id.String() + "-" + strconv.Itoa(i) }

// scratchOwner parses a scratch file name; ok is false for any other name.
func scratchOwner(name string) (id owner.ID, ok bool) {
	_, token, found := strings.Cut(name, "-")
	i := strings.LastIndexByte(token, '-')
	if !found || i < 0 {
		return owner.ID{}, false
	}
	if _, err := strconv.ParseUint(token[i+1:], 10, 32); err != nil {
		return owner.ID{}, false
	}
	id, err := owner.Parse(token[:i])
	return id, err == nil
}

// prepareScratch readies the directories of a spawn's scratch files: it
// removes the files of dead runs from each and creates the missing ones
// (mode 0700), returning those it made, so that Close can remove them
// again when empty.
func prepareScratch(paths []string) (made []string, err error) {
	var dirs []string
	for _, p := range paths {
		if d := filepath.Dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		sweepScratch(d)
		m, err := mkdirs(d)
		made = append(made, m...)
		if err != nil {
			return made, err
		}
	}
	return made, nil
}

// sweepScratch removes the scratch files in dir whose owner is gone.
func sweepScratch(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if id, ok := scratchOwner(e.Name()); ok && e.Type().IsRegular() && id.Gone() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// mkdirs is os.MkdirAll(dir, 0o700) returning the directories it made,
// outermost first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	var made []string
	for _, d := range slices.Backward(missing) {
		if err := unix.Mkdir(d, 0o700); err != nil && err != unix.EEXIST {
			return made, &os.PathError{Op: "mkdir", Path: d, Err: err}
		} else if err == nil {
			made = append(made, d)
		}
	}
	return made, nil
}

// removeScratchDirs removes, innermost first, the directories a spawn
// made and ktstar's default scratch directory, each only if it is empty
// (another run may be using it).
func removeScratchDirs(made []string) {
	for _, d := range slices.Backward(made) {
		unix.Rmdir(d)
	}
	unix.Rmdir(scratchDir(""))
}
