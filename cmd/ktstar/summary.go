package main

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/fatih/color"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/progress"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/summary"
	"golang.org/x/sys/unix"
)

// progressInterval is how often the live progress lines are redrawn.
const progressInterval = 250 * time.Millisecond

// live returns the run's progress facility: on stderr when it is a
// terminal (and not -q) or --progress forces it, otherwise nil.
func (c *cli) live() *progress.Live {
	f, isFile := c.stderr.(*os.File)
	if c.progress || !c.quiet && isFile && progress.Enabled(f, false) {
		return progress.NewLive(c.stderr, progressInterval)
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

// runUnits splits a stopped spawn into its groups and cgroups, named
// after the spawn ("#1 SpinWait", "#2 FutexPingPong group 1"), marked
// when the run's end collected it ("#1 SpinWait (interrupted: timeout)").
func runUnits(r starlib.Run) []checks.Unit {
	label := starlib.RunLabel(r.Handle, r.Workload.Work.Name())
	if r.Interrupted != "" {
		label += " (interrupted: " + r.Interrupted + ")"
	}
	units := checks.Units(r.Reports)
	for i := range units {
		if len(units) == 1 && units[i].Cgroup == "" {
			units[i].Name = label
		} else {
			units[i].Name = label + " " + units[i].Name
		}
	}
	return units
}

// summary writes the end-of-run summary to stderr: one row per group or
// cgroup of every stopped spawn, then the outcomes of every check call
// (only the failures with -q). inCharge, when not "", names the
// scheduler in charge in a header line above the table.
func (c *cli) summary(runs []starlib.Run, calls []starlib.CheckCall, inCharge string) error {
	opt := summary.Options{Color: !color.NoColor, Quiet: c.quiet, Histogram: c.histogram}
	var units []checks.Unit
	for _, r := range runs {
		units = append(units, runUnits(r)...)
	}
	if inCharge != "" && len(units) > 0 && !c.quiet {
		fmt.Fprintf(c.stderr, "scheduler: %s\n", inCharge)
	}
	if err := summary.WriteTable(c.stderr, summary.Rows(units), opt); err != nil {
		return err
	}
	for _, line := range killedFromOutside(runs) {
		c.printError(line)
	}
	for _, call := range calls {
		res := call.Result()
		if len(calls) > 1 && (!c.quiet || len(res.Failed()) > 0) {
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
					starlib.RunLabel(r.Handle, r.Workload.Work.Name()), rep.Tid, unix.SignalName(syscall.Signal(rep.ExitInfo.Signal))))
			}
		}
	}
	return out
}

// showSummary prints the summary of a result saved with --json, as the
// run printed it (with -q and --histogram as given now).
func (c *cli) showSummary(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		c.printError("ktstar summary: " + err.Error())
		return exitError
	}
	var doc output
	if err := json.Unmarshal(b, &doc); err != nil {
		c.printError(fmt.Sprintf("ktstar summary: %s is not a ktstar --json result: %v", path, err))
		return exitError
	}
	runs := make([]starlib.Run, len(doc.Runs))
	for i, r := range doc.Runs {
		runs[i] = r.Run
	}
	if err := c.summary(runs, doc.Checks, doc.Host.inCharge()); err != nil {
		c.printError("ktstar summary: " + err.Error())
		return exitError
	}
	return exitOK
}
