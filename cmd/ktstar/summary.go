package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/fatih/color"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/progress"
	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
	"golang.org/x/sys/unix"
)

// progressInterval is how often the live progress lines are redrawn.
const progressInterval = 250 * time.Millisecond

// live returns the run's progress facility: redrawn lines on stderr when
// it is a terminal (and not -q); one plain line per --interval (default
// 1s) when --progress forces progress onto a file or pipe; otherwise nil.
func (c *cli) live() *progress.Live {
	f, isFile := c.stderr.(*os.File)
	terminal := isFile && progress.Enabled(f, false)
	switch {
	case terminal && (c.progress || !c.quiet):
		return progress.NewLive(c.stderr, progressInterval)
	case c.progress:
		return progress.NewPlainLive(c.stderr, cmp.Or(c.interval, defaultInterval))
	}
	return nil
}

// liveProgress draws a session's progress groups with a progress.Live.
type liveProgress struct{ l *progress.Live }

// Show converts the groups to progress sources.
func (p liveProgress) Show(total time.Duration, groups []starlib.ProgressGroup) func() {
	sources := make([]progress.Source, len(groups))
	for i, g := range groups {
		sources[i] = progress.Source(g)
	}
	return p.l.Show(total, sources)
}

// sessionProgress is live as a session's Progress: nil when live is.
func sessionProgress(live *progress.Live) starlib.Progress {
	if live == nil {
		return nil
	}
	return liveProgress{live}
}

// summary writes the end-of-run summary to stderr: with header, the
// result's header line first; one row per group or cgroup of every
// stopped spawn (the medians over repetitions when there are several;
// a spawn the run's end collected is marked "(interrupted: reason)"),
// then the outcomes of every check call (only the failures with -q).
// Above the table, a line names the scheduler in charge.
func (c *cli) summary(doc *result.Doc, header bool) error {
	opt := summary.Options{Color: !color.NoColor, Quiet: c.quiet, Histogram: c.histogram}
	if header && !c.quiet {
		doc.WriteHeader(c.stderr)
	}
	reps := make([][]summary.Row, doc.Reps())
	for _, r := range doc.Runs {
		rows := r.Rows()
		if r.Interrupted != "" {
			// Marked in the table only: the stored labels stay stable,
			// so that compare joins them.
			rows = slices.Clone(rows)
			for i := range rows {
				rows[i].Label += " (interrupted: " + r.Interrupted + ")"
			}
		}
		reps[r.Repetition] = append(reps[r.Repetition], rows...)
	}
	rows := reps[0]
	if doc.Reps() > 1 {
		rows = summary.Median(reps)
	}
	if doc.Host.Scheduler != "" && len(rows) > 0 && !c.quiet {
		fmt.Fprintf(c.stderr, "scheduler: %s\n", doc.Host.Scheduler)
	}
	if err := summary.WriteTable(c.stderr, rows, opt); err != nil {
		return err
	}
	var runs []starlib.Run
	var units []checks.Unit
	for _, r := range doc.Runs {
		runs = append(runs, r.Run)
		units = append(units, r.Units()...)
	}
	summary.WriteBenchTables(c.stderr, units, opt)
	for _, line := range killedFromOutside(runs) {
		c.printError(line)
	}
	for _, call := range doc.Checks {
		res := call.Result()
		if (len(doc.Checks) > 1 || doc.Reps() > 1) && (!c.quiet || len(res.Failed()) > 0) {
			if doc.Reps() > 1 {
				fmt.Fprintf(c.stderr, "repetition %d, ", call.Repetition+1)
			}
			fmt.Fprintf(c.stderr, "%s at %s:\n", call.Function, call.Call)
		}
		summary.WriteChecks(c.stderr, res, opt)
	}
	return nil
}

// killedFromOutside names every worker that a signal ktstar did not send
// killed: its data is lost and the run cannot count as a success.
func killedFromOutside(runs []starlib.Run) []string {
	var out []string
	for _, r := range runs {
		for _, rep := range r.Reports {
			if rep.ExitInfo.Foreign() {
				out = append(out, fmt.Sprintf("ktstar: %s: worker %d: killed by %s, which ktstar did not send",
					r.Name(), rep.Tid, unix.SignalName(syscall.Signal(rep.ExitInfo.Signal))))
			}
		}
	}
	return out
}

// showSummary prints the summary of each result saved with --json, as
// the run printed it (with -q and --histogram as given now) below a
// header naming the script, kernel, date and duration. A file that is not
// a ktstar result is an error (exit status 2).
func (c *cli) showSummary(paths []string) int {
	docs := make([]*result.Doc, len(paths))
	for i, p := range paths {
		// The rows a run stored need no samples, which are most of a
		// file; histograms and results without rows do.
		d, err := result.ReadCompact(p, false)
		if err == nil && (c.histogram || !d.Compact()) {
			d, err = result.Read(p)
		}
		if err != nil {
			c.printError("ktstar summary: " + err.Error())
			return exitError
		}
		docs[i] = d
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(c.stderr)
		}
		if len(docs) > 1 && !c.quiet {
			fmt.Fprintf(c.stderr, "%s:\n", paths[i])
		}
		if err := c.summary(d, true); err != nil {
			c.printError("ktstar summary: " + err.Error())
			return exitError
		}
	}
	return exitOK
}
