package gauntlet

import (
	"fmt"
	"github.com/ktstar/ktstar/checks"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Short is the cell's status as the matrix shows it: "pass", "skip",
// "FAIL check" (the first failed check), "ERROR".
func (r Record) Short() string {
	switch r.Status {
	case Pass, Skip:
		return r.Status
	case Fail:
		// A failed check's line starts with its name; fail()'s message does not.
		if check, _, _ := strings.Cut(r.Reason, " "); check != "" {
			if _, known := checks.Lookup(check); known {
				return "FAIL " + check
			}
		}
		return "FAIL"
	}
	return "ERROR"
}

// WriteMatrix prints the summary: one row per scenario (and profile and
// kernel, when there are several), one column per preset, each cell's
// short status ("-" when it has not run), then a line per cell that did
// not pass with its reason, and the counts.
func (r *Results) WriteMatrix(w io.Writer) error {
	m := r.Manifest
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "SCENARIO")
	if len(m.Profiles) > 1 {
		fmt.Fprint(tw, "\tPROFILE")
	}
	if len(m.Kernels) > 1 {
		fmt.Fprint(tw, "\tKERNEL")
	}
	for _, p := range m.Presets {
		fmt.Fprint(tw, "\t"+p)
	}
	fmt.Fprintln(tw)
	var counts [5]int // pass fail skip error missing
	var notes []string
	inMatrix := map[string]bool{}
	for _, k := range m.Cells {
		inMatrix[k] = true
	}
	for _, s := range m.Scenarios {
		for _, pr := range m.Profiles {
			for _, k := range m.Kernels {
				// A scenario that does not run under a profile has no row for it.
				if !slices.ContainsFunc(m.Presets, func(p string) bool {
					return inMatrix[Cell{Scenario: s, Preset: p, Profile: pr, Kernel: k}.Key()]
				}) {
					continue
				}
				fmt.Fprint(tw, s)
				if len(m.Profiles) > 1 {
					fmt.Fprint(tw, "\t"+pr)
				}
				if len(m.Kernels) > 1 {
					fmt.Fprint(tw, "\t"+k)
				}
				for _, p := range m.Presets {
					c := Cell{Scenario: s, Preset: p, Profile: pr, Kernel: k}
					rec, ok := r.Records[c.Key()]
					switch {
					case !ok:
						fmt.Fprint(tw, "\t-")
						counts[4]++
						continue
					case rec.Status == Pass:
						counts[0]++
					case rec.Status == Fail:
						counts[1]++
					case rec.Status == Skip:
						counts[2]++
					default:
						counts[3]++
					}
					fmt.Fprint(tw, "\t"+rec.Short())
					if rec.Status != Pass {
						notes = append(notes, fmt.Sprintf("%s: %s: %s", rec.Key, rec.Status, oneLine(rec.Reason)))
					}
				}
				fmt.Fprintln(tw)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	_, err := fmt.Fprintf(w, "%d cells: %d passed, %d failed, %d skipped, %d errors, %d not run\n",
		len(m.Cells), counts[0], counts[1], counts[2], counts[3], counts[4])
	return err
}

// oneLine keeps a reason's first line and says how many more there were.
func oneLine(s string) string {
	first, rest, ok := strings.Cut(strings.TrimSpace(s), "\n")
	if !ok {
		return first
	}
	return fmt.Sprintf("%s (+%d lines)", first, strings.Count(rest, "\n")+1)
}
