package gauntlet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A results directory holds:
//
//	gauntlet.json            the Manifest: the matrix's cells and the shard
//	index.jsonl              one Record per finished cell, in cell order
//	cells/KEY.json           the cell's ktstar --json result (when it wrote one)
//	cells/KEY.log            what the cell printed (stdout, then stderr)
//	cells/KEY.cell.json      the cell's Record: written last, so a cell whose
//	                         record exists is done and a rerun skips it
//
// KEY is Cell.Key, scenario/preset/profile/kernel, so cells nest by
// scenario and preset.
const (
	ManifestFile = "gauntlet.json"
	IndexFile    = "index.jsonl"
	CellsDir     = "cells"
	recordSuffix = ".cell.json"
	resultSuffix = ".json"
	logSuffix    = ".log"
)

// Statuses of a cell.
const (
	Pass  = "pass"
	Fail  = "fail"  // a failed check or fail(): exit status 1
	Skip  = "skip"  // the scenario cannot run on this shape
	Error = "error" // a script error (exit 2) or a guest that failed
)

// Record is one finished cell: a line of index.jsonl.
type Record struct {
	Cell
	Key    string `json:"key"`
	Status string `json:"status"`
	// Reason says why the cell did not pass: the failed checks ("not_starved
	// [web]: ..."), the skip's reason, or the error.
	Reason     string `json:"reason,omitempty"`
	ExitStatus int    `json:"exit_status"`
	// Result and Log are the cell's files, relative to the directory.
	Result string    `json:"result,omitempty"`
	Log    string    `json:"log,omitempty"`
	Start  time.Time `json:"start_time"`
	// DurationNs is the cell's wall time, guest boot included; ScenarioNs
	// the script's own (its result's duration_ns), so the difference is
	// the gauntlet's overhead per cell.
	DurationNs int64  `json:"duration_ns"`
	ScenarioNs int64  `json:"scenario_ns,omitempty"`
	Shard      string `json:"shard"`
}

// End is when the cell ended.
func (r Record) End() time.Time { return r.Start.Add(time.Duration(r.DurationNs)) }

// Manifest describes the run that wrote a directory.
type Manifest struct {
	Version   string   `json:"ktstar_version"`
	Shard     string   `json:"shard"`
	Cells     []string `json:"cells"` // every cell's key of the whole matrix, in order
	Scenarios []string `json:"scenarios"`
	Presets   []string `json:"presets"`
	Profiles  []string `json:"profiles"`
	Kernels   []string `json:"kernels"`
}

// NewManifest describes m as sharded by s.
func NewManifest(version string, m Matrix, s Shard) Manifest {
	man := Manifest{Version: version, Shard: s.String(), Profiles: []string{DefaultProfile}, Kernels: []string{DefaultKernel}}
	for _, c := range m.Cells() {
		man.Cells = append(man.Cells, c.Key())
	}
	for _, sc := range m.Scenarios {
		man.Scenarios = append(man.Scenarios, sc.Name)
	}
	for _, p := range m.Presets {
		man.Presets = append(man.Presets, p.Label())
	}
	if len(m.Profiles) > 0 {
		man.Profiles = nil
		for _, p := range m.Profiles {
			man.Profiles = append(man.Profiles, p.Name)
		}
	}
	if len(m.Kernels) > 0 {
		man.Kernels = nil
		for _, k := range m.Kernels {
			man.Kernels = append(man.Kernels, k.Label)
		}
	}
	return man
}

// Results is a results directory as read: its manifest and every
// finished cell's record, by key.
type Results struct {
	Dir      string
	Manifest Manifest
	Records  map[string]Record
	lock     *os.File // Prepare's lock on the directory; nil after Open
}

// LockFile is the file a running gauntlet holds a lock on, so that a
// second one on the same directory is refused instead of racing it.
const LockFile = ".lock"

// Close releases the directory Prepare locked.
func (r *Results) Close() error {
	if r.lock == nil {
		return nil
	}
	err := r.lock.Close()
	r.lock = nil
	return err
}

// lockDir takes dir's lock, failing at once when another process holds
// it. The kernel drops the lock when its holder dies, however it dies.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("gauntlet results %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("gauntlet results %s are in use by another gauntlet: wait for it, or use another --out", dir)
		}
		return nil, fmt.Errorf("gauntlet results %s: lock: %w", dir, err)
	}
	return f, nil
}

// Open reads a results directory: its manifest and the record of every
// finished cell (from cells/, not the index, so a run killed before it
// rewrote its index loses nothing).
func Open(dir string) (*Results, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("gauntlet results %s: %w", dir, err)
	}
	r := &Results{Dir: dir, Records: map[string]Record{}}
	if err := json.Unmarshal(b, &r.Manifest); err != nil || len(r.Manifest.Cells) == 0 {
		return nil, fmt.Errorf("gauntlet results %s: %s is not a gauntlet manifest (%v)", dir, ManifestFile, err)
	}
	root := filepath.Join(dir, CellsDir)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, recordSuffix) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, strings.TrimSuffix(path, recordSuffix))
		if rec.Key != filepath.ToSlash(rel) {
			return fmt.Errorf("%s: the record is of cell %q", path, rec.Key)
		}
		// The files a record names are its cell's own, never a path that
		// Merge would copy from or to elsewhere.
		if (rec.Result != "" && rec.Result != cellRel(rec.Key, resultSuffix)) || (rec.Log != "" && rec.Log != cellRel(rec.Key, logSuffix)) {
			return fmt.Errorf("%s: result %q and log %q: want %s and %s", path, rec.Result, rec.Log, cellRel(rec.Key, resultSuffix), cellRel(rec.Key, logSuffix))
		}
		r.Records[rec.Key] = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gauntlet results %s: %w", dir, err)
	}
	return r, nil
}

// Cells returns the keys of every cell the manifest lists, in order.
func (r *Results) Cells() []string { return r.Manifest.Cells }

// Sorted returns the records in the manifest's cell order, then any the
// manifest does not list, by key.
func (r *Results) Sorted() []Record {
	var out []Record
	listed := map[string]bool{}
	for _, k := range r.Manifest.Cells {
		listed[k] = true
		if rec, ok := r.Records[k]; ok {
			out = append(out, rec)
		}
	}
	var extra []Record
	for k, rec := range r.Records {
		if !listed[k] {
			extra = append(extra, rec)
		}
	}
	slices.SortFunc(extra, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	return append(out, extra...)
}

// cellPath is where a cell's file with the suffix lives in dir.
func cellPath(dir, key, suffix string) string {
	return filepath.Join(dir, filepath.FromSlash(cellRel(key, suffix)))
}

// cellRel is a cell's file with the suffix, relative to the directory,
// as records name it.
func cellRel(key, suffix string) string { return CellsDir + "/" + key + suffix }

// writeFile replaces path atomically: a reader (or a rerun after a kill)
// sees the old file or the whole new one.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFile(path, append(b, '\n'))
}

// WriteRecord stores a finished cell's record, which marks it done.
func WriteRecord(dir string, rec Record) error {
	return writeJSON(cellPath(dir, rec.Key, recordSuffix), rec)
}

// WriteIndex rewrites index.jsonl from the records, in cell order.
func (r *Results) WriteIndex() error {
	var b bytes.Buffer
	for _, rec := range r.Sorted() {
		line, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode the record of %s: %w", rec.Key, err)
		}
		b.Write(append(line, '\n'))
	}
	return writeFile(filepath.Join(r.Dir, IndexFile), b.Bytes())
}

// ReadIndex reads an index.jsonl, refusing a line that is not a record.
func ReadIndex(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Key == "" {
			return nil, fmt.Errorf("%s:%d: not a gauntlet record (%v)", path, n, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// Prepare makes dir the home of man's run and locks it until Close: it
// writes the manifest, or checks that the one there is of the same
// matrix, so a rerun resumes and a different matrix is not mixed in. A
// directory another gauntlet is running in is refused.
func Prepare(dir string, man Manifest) (*Results, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gauntlet results %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	r, err := prepare(dir, man)
	if err != nil {
		lock.Close()
		return nil, err
	}
	r.lock = lock
	return r, nil
}

func prepare(dir string, man Manifest) (*Results, error) {
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		r, err := Open(dir)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(r.Manifest.Cells, man.Cells) || r.Manifest.Shard != man.Shard {
			return nil, fmt.Errorf("gauntlet results %s hold another matrix or shard (%d cells, shard %s; this run: %d cells, shard %s): use another --out", dir, len(r.Manifest.Cells), r.Manifest.Shard, len(man.Cells), man.Shard)
		}
		return r, nil
	}
	if err := writeJSON(filepath.Join(dir, ManifestFile), man); err != nil {
		return nil, err
	}
	return &Results{Dir: dir, Manifest: man, Records: map[string]Record{}}, nil
}

// Merge copies the cells of several results directories (the shards of
// one matrix) into out and writes its manifest and index. The inputs must
// list the same cells; a cell finished in more than one is taken from the
// run that finished it last, and named in the notes.
func Merge(out string, dirs []string) (notes []string, err error) {
	if len(dirs) == 0 {
		return nil, errors.New("merge: no results directories")
	}
	var man Manifest
	pick := map[string]Record{}
	from := map[string]string{}
	for i, d := range dirs {
		r, err := Open(d)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			man = r.Manifest
		} else if !slices.Equal(r.Manifest.Cells, man.Cells) {
			return nil, fmt.Errorf("merge: %s is of another matrix than %s (%d cells, %d)", d, dirs[0], len(r.Manifest.Cells), len(man.Cells))
		}
		for k, rec := range r.Records {
			if prev, dup := pick[k]; dup {
				if !rec.End().After(prev.End()) {
					notes = append(notes, fmt.Sprintf("%s: in %s and %s; keeping %s's (finished later)", k, from[k], d, from[k]))
					continue
				}
				notes = append(notes, fmt.Sprintf("%s: in %s and %s; keeping %s's (finished later)", k, from[k], d, d))
			}
			pick[k], from[k] = rec, d
		}
	}
	slices.Sort(notes)
	man.Shard = "merged"
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if _, err := os.Stat(filepath.Join(out, ManifestFile)); err == nil {
		return nil, fmt.Errorf("merge: %s already holds gauntlet results: merge into a new directory", out)
	}
	res := &Results{Dir: out, Manifest: man, Records: map[string]Record{}}
	keys := make([]string, 0, len(pick))
	for k := range pick {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rec := pick[k]
		for _, f := range []*string{&rec.Result, &rec.Log} {
			if *f == "" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(from[k], *f))
			if err != nil {
				return nil, fmt.Errorf("merge: cell %s: %w", k, err)
			}
			if err := writeFile(filepath.Join(out, *f), b); err != nil {
				return nil, fmt.Errorf("merge: cell %s: %w", k, err)
			}
		}
		if err := WriteRecord(out, rec); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		res.Records[k] = rec
	}
	if err := writeJSON(filepath.Join(out, ManifestFile), man); err != nil {
		return nil, err
	}
	return notes, res.WriteIndex()
}
