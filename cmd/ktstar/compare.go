package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/ktstar/ktstar/compare"
	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/report"
	"github.com/ktstar/ktstar/result"
)

// compare compares the base result with each newer one in turn; it
// exits 1 when any comparison finds a significant regression past a
// --max-regress gate, 2 when an input is not a result.
func (c *cli) compare(paths []string) int {
	gates, err := compare.ParseGates(c.maxRegress)
	if err != nil {
		c.printError("ktstar compare: " + err.Error())
		return exitError
	}
	if isGauntletDir(paths[0]) {
		return c.compareGauntlets(paths, gates)
	}
	docs, err := readAll(paths, false)
	if err != nil {
		c.printError("ktstar compare: " + err.Error())
		return exitError
	}
	status := exitOK
	var reports []compare.Report
	for i, p := range paths[1:] {
		r := compare.Compare(docs[0], docs[i+1], gates)
		r.Base, r.New = paths[0], p
		reports = append(reports, r)
		if len(r.Regressions) > 0 {
			status = exitFail
		}
		if !c.printComparison(r) {
			return exitError
		}
	}
	return c.endCompare(reports, status)
}

// printComparison prints one comparison's text, unless --json goes to
// stdout; false after reporting a write error.
func (c *cli) printComparison(r interface{ WriteText(io.Writer) error }) bool {
	if c.json == "-" {
		return true
	}
	if err := r.WriteText(c.stdout); err != nil {
		c.printError("ktstar compare: " + err.Error())
		return false
	}
	return true
}

// endCompare writes --json when asked and returns status, or exitError
// when the JSON cannot be written.
func (c *cli) endCompare(reports any, status int) int {
	if c.json != "" {
		if err := c.writeCompareJSON(reports); err != nil {
			c.printError("ktstar compare: " + err.Error())
			return exitError
		}
	}
	return status
}

// writeCompareJSON writes compare's --json: to stdout for "-".
func (c *cli) writeCompareJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode --json: %w", err)
	}
	b = append(b, '\n')
	if c.json == "-" {
		_, err = c.stdout.Write(b)
	} else {
		err = os.WriteFile(c.json, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

// isGauntletDir reports whether path is a gauntlet results directory.
func isGauntletDir(path string) bool {
	_, err := os.Stat(filepath.Join(path, gauntlet.ManifestFile))
	return err == nil
}

// compareGauntlets compares gauntlet results directories, each newer one
// with the base, cell by cell; it exits 1 on a regression (a gate, or a
// cell that passed and now fails).
func (c *cli) compareGauntlets(paths []string, gates []compare.Gate) int {
	base, err := gauntlet.Open(paths[0])
	if err != nil {
		c.printError("ktstar compare: " + err.Error())
		return exitError
	}
	read := func(p string) (*result.Doc, error) { return result.ReadCompact(p, false) }
	status := exitOK
	var reports []compare.GauntletReport
	for _, p := range paths[1:] {
		next, err := gauntlet.Open(p)
		if err != nil {
			c.printError("ktstar compare: " + err.Error() + " (compare a gauntlet's results with another's)")
			return exitError
		}
		r, err := compare.Gauntlets(base, next, gates, read)
		if err != nil {
			c.printError("ktstar compare: " + err.Error())
			return exitError
		}
		if len(r.Regressions) > 0 {
			status = exitFail
		}
		reports = append(reports, r)
		if !c.printComparison(r) {
			return exitError
		}
	}
	return c.endCompare(reports, status)
}

// readAll reads results with result.ReadCompact (with histograms when
// hists), each in a goroutine of its own: parsing the samples is most of
// compare's time.
func readAll(paths []string, hists bool) ([]*result.Doc, error) {
	docs := make([]*result.Doc, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { docs[i], errs[i] = result.ReadCompact(p, hists) })
	}
	wg.Wait()
	return docs, errors.Join(errs...)
}

// report writes the HTML report of a result (against a baseline when a
// second file is given) to -o.
func (c *cli) report(paths []string) int {
	docs, err := readAll(paths, true)
	if err != nil {
		c.printError("ktstar report: " + err.Error())
		return exitError
	}
	in := report.Input{Path: paths[0], Doc: docs[0]}
	if len(docs) == 2 {
		cmp := compare.Compare(docs[1], docs[0], nil)
		cmp.Base, cmp.New = paths[1], paths[0]
		in.BasePath, in.Base, in.Compare = paths[1], docs[1], &cmp
	}
	var b bytes.Buffer
	if err := report.Write(&b, in); err != nil {
		c.printError("ktstar report: " + err.Error())
		return exitError
	}
	if err := os.WriteFile(c.output, b.Bytes(), 0o644); err != nil {
		c.printError("ktstar report: " + err.Error())
		return exitError
	}
	if !c.quiet {
		fmt.Fprintf(c.stderr, "ktstar report: wrote %s (%d KB)\n", c.output, (b.Len()+1023)/1024)
	}
	return exitOK
}
