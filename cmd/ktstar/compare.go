package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/ktstar/ktstar/compare"
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
	docs, err := readAll(paths)
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
		if c.json == "-" {
			continue
		}
		if err := r.WriteText(c.stdout); err != nil {
			c.printError("ktstar compare: " + err.Error())
			return exitError
		}
	}
	if c.json != "" {
		b, err := json.MarshalIndent(reports, "", "  ")
		if err != nil {
			c.printError(fmt.Sprintf("ktstar compare: encode --json: %v", err))
			return exitError
		}
		b = append(b, '\n')
		if c.json == "-" {
			_, err = c.stdout.Write(b)
		} else {
			err = os.WriteFile(c.json, b, 0o644)
		}
		if err != nil {
			c.printError("ktstar compare: --json: " + err.Error())
			return exitError
		}
	}
	return status
}

// readAll reads results with result.ReadCompact, each in a goroutine of
// its own: parsing the samples is most of compare's time.
func readAll(paths []string) ([]*result.Doc, error) {
	docs := make([]*result.Doc, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { docs[i], errs[i] = result.ReadCompact(p) })
	}
	wg.Wait()
	return docs, errors.Join(errs...)
}

func (c *cli) report(paths []string) int { return exitError }
