package summary

import (
	"fmt"
	"io"

	"github.com/ktstar/ktstar/checks"
)

// WriteBenchTables prints, for every Schbench worker of the units, the
// tables upstream schbench prints at the end of a run, and for every
// Taobench worker its DCPerf-style line, headed by the unit's name; with
// opt.Quiet it writes nothing.
func WriteBenchTables(w io.Writer, units []checks.Unit, opt Options) {
	if opt.Quiet {
		return
	}
	for _, u := range units {
		for i, r := range u.Reports {
			if r.Schbench != nil {
				fmt.Fprintf(w, "\n%s, worker %d (tid %d), schbench %s mode:\n%s", u.Name, i, r.Tid, r.Schbench.Mode, r.Schbench.Tables())
			}
			if r.Taobench != nil {
				fmt.Fprintf(w, "%s, worker %d (tid %d), taobench model: %s\n", u.Name, i, r.Tid, r.Taobench.Line())
			}
		}
	}
}
