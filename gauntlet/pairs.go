package gauntlet

import (
	"path/filepath"
	"slices"
)

// Pair is one cell of two gauntlet runs, joined for comparison.
type Pair struct {
	Key       string // what joined them: the cell's key, without the kernel when the runs compare kernels
	Base, New Record
}

// BasePath is the base cell's ktstar result ("" when it wrote none).
func (p Pair) BasePath(base *Results) string { return resultPath(base, p.Base) }

// NewPath is BasePath for the new run.
func (p Pair) NewPath(new *Results) string { return resultPath(new, p.New) }

func resultPath(r *Results, rec Record) string {
	if rec.Result == "" {
		return ""
	}
	return filepath.Join(r.Dir, filepath.FromSlash(rec.Result))
}

// Pairs joins the finished cells of two runs. When each ran one kernel
// and the kernels differ (kernel A against kernel B), cells join on
// scenario, preset and profile; otherwise on the whole key. Cells of one
// run only are listed by key.
func Pairs(base, new *Results) (pairs []Pair, onlyBase, onlyNew []string) {
	byKernel := !(len(base.Manifest.Kernels) == 1 && len(new.Manifest.Kernels) == 1 &&
		base.Manifest.Kernels[0] != new.Manifest.Kernels[0])
	join := func(c Cell) string {
		if byKernel {
			return c.Key()
		}
		return c.Scenario + "/" + c.Preset + "/" + c.Profile
	}
	newByJoin := map[string]Record{}
	for _, rec := range new.Sorted() {
		newByJoin[join(rec.Cell)] = rec
	}
	seen := map[string]bool{}
	for _, rec := range base.Sorted() {
		k := join(rec.Cell)
		seen[k] = true
		if n, ok := newByJoin[k]; ok {
			pairs = append(pairs, Pair{Key: k, Base: rec, New: n})
		} else {
			onlyBase = append(onlyBase, rec.Key)
		}
	}
	for _, rec := range new.Sorted() {
		if !seen[join(rec.Cell)] {
			onlyNew = append(onlyNew, rec.Key)
		}
	}
	slices.Sort(onlyBase)
	slices.Sort(onlyNew)
	return pairs, onlyBase, onlyNew
}
