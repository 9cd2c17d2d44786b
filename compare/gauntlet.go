package compare

import (
	"fmt"
	"io"

	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/result"
)

// CellReport is one cell of two gauntlet runs compared.
type CellReport struct {
	Cell       string  `json:"cell"` // the join key (see gauntlet.Pairs)
	BaseStatus string  `json:"base_status"`
	NewStatus  string  `json:"new_status"`
	NewReason  string  `json:"new_reason,omitempty"`
	Report     *Report `json:"report,omitempty"` // nil when a side wrote no result
}

// GauntletReport compares two gauntlet results directories, cell by cell.
type GauntletReport struct {
	Base     string       `json:"base"`
	New      string       `json:"new"`
	Cells    []CellReport `json:"cells"`
	OnlyBase []string     `json:"only_base,omitempty"`
	OnlyNew  []string     `json:"only_new,omitempty"`
	// Regressions are the cells' metric regressions past a gate, and the
	// cells that passed in the base and fail or err in the new run.
	Regressions []string `json:"regressions"`
}

// Gauntlets compares the cells two gauntlet runs share (kernel A against
// kernel B when each ran one kernel), each with Compare on the two cells'
// results, which read loads.
func Gauntlets(base, next *gauntlet.Results, gates []Gate, read func(path string) (*result.Doc, error)) (GauntletReport, error) {
	pairs, onlyBase, onlyNew := gauntlet.Pairs(base, next)
	g := GauntletReport{Base: base.Dir, New: next.Dir, OnlyBase: onlyBase, OnlyNew: onlyNew, Regressions: []string{}}
	for _, p := range pairs {
		cr := CellReport{Cell: p.Key, BaseStatus: p.Base.Status, NewStatus: p.New.Status}
		if p.New.Status != gauntlet.Pass {
			cr.NewReason = p.New.Reason
		}
		if p.Base.Status == gauntlet.Pass && (p.New.Status == gauntlet.Fail || p.New.Status == gauntlet.Error) {
			g.Regressions = append(g.Regressions, fmt.Sprintf("%s: passed, now %s: %s", p.Key, p.New.Status, p.New.Short()))
		}
		bp, np := p.BasePath(base), p.NewPath(next)
		if bp != "" && np != "" {
			bd, err := read(bp)
			if err != nil {
				return g, err
			}
			nd, err := read(np)
			if err != nil {
				return g, err
			}
			r := Compare(bd, nd, gates)
			r.Base, r.New = bp, np
			for _, reg := range r.Regressions {
				g.Regressions = append(g.Regressions, p.Key+": "+reg)
			}
			cr.Report = &r
		}
		g.Cells = append(g.Cells, cr)
	}
	return g, nil
}

// WriteText prints each shared cell's statuses and comparison, the cells
// of one run only, and the regressions.
func (g GauntletReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "gauntlet base %s, new %s: %d cells in both\n", g.Base, g.New, len(g.Cells))
	for _, c := range g.Cells {
		fmt.Fprintf(w, "\n== %s: base %s, new %s\n", c.Cell, c.BaseStatus, c.NewStatus)
		if c.NewReason != "" {
			fmt.Fprintf(w, "new: %s\n", c.NewReason)
		}
		if c.Report == nil {
			fmt.Fprintln(w, "(no result on one side: nothing to compare)")
			continue
		}
		if err := c.Report.WriteText(w); err != nil {
			return err
		}
	}
	for _, k := range g.OnlyBase {
		fmt.Fprintf(w, "only in base: %s\n", k)
	}
	for _, k := range g.OnlyNew {
		fmt.Fprintf(w, "only in new: %s\n", k)
	}
	if len(g.Regressions) > 0 {
		fmt.Fprintf(w, "\n%d regressions:\n", len(g.Regressions))
		for _, r := range g.Regressions {
			fmt.Fprintln(w, "  "+r)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
