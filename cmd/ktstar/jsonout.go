package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// jsonOut is the --json file, written atomically: a temp file beside it
// is created before the run, so that an unwritable path fails at once,
// and renamed over FILE at the end, so that a full disk or a killed run
// never leaves a truncated file in place of a good one.
type jsonOut struct {
	path string
	tmp  *os.File
}

func openJSONOut(path string) (*jsonOut, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("--json %s: is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("--json %s: cannot write beside it: %w", path, err)
	}
	return &jsonOut{path: path, tmp: f}, nil
}

// commit writes b to the temp file and renames it over FILE. On failure
// the temp file is removed and FILE is left as it was.
func (j *jsonOut) commit(b []byte) error {
	_, err := j.tmp.Write(b)
	if err == nil {
		err = j.tmp.Chmod(0o644) // CreateTemp makes 0600; a result is for reading
	}
	if err == nil {
		err = j.tmp.Sync()
	}
	if cerr := j.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(j.tmp.Name(), j.path)
	}
	if err != nil {
		os.Remove(j.tmp.Name())
		return fmt.Errorf("--json %s: %w (the file was left as it was)", j.path, err)
	}
	return nil
}

// abort removes the temp file.
func (j *jsonOut) abort() {
	j.tmp.Close()
	os.Remove(j.tmp.Name())
}
