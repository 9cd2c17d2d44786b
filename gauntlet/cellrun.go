package gauntlet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/ktstar/ktstar/checks"
	"github.com/ktstar/ktstar/vm"
)

// Guest runs each cell in a throwaway guest of its preset's shape, with
// its kernel and the scheduler started with its profile's arguments.
type Guest struct {
	Matrix Matrix
	// Base holds what every cell's guest shares: accelerator, timeout,
	// init binary, QEMU, memory (0: the preset's), extra files, and the
	// run flags (--set, --repeat, the scheduler's path, base arguments and
	// readiness). Shape, kernel, script, output and --json are the cell's.
	Base vm.Options
	// Unmet, when set, says why a scenario cannot run on a preset (a
	// catalog entry's needs), so the cell is skipped without a guest; ""
	// when it can.
	Unmet func(Scenario, vm.Preset) string
}

// Run is a CellRunner.
func (g *Guest) Run(ctx context.Context, c Cell, resultPath string, log io.Writer) (Outcome, error) {
	s, preset, profile, kernel, err := g.Matrix.Lookup(c)
	if err != nil {
		return Outcome{Status: Error, Reason: err.Error(), ExitStatus: 2}, nil
	}
	if g.Unmet != nil {
		if why := g.Unmet(s, preset); why != "" {
			fmt.Fprintf(log, "ktstar gauntlet: %s cannot run on %s (%s): %s; no guest booted\n", s.Name, preset.Label(), preset.Shape(), why)
			return Outcome{Status: Skip, Reason: why}, nil
		}
	}
	o := g.Base
	preset.Apply(&o)
	o.Kernel = kernel.Path
	if kernel.Path != "" {
		o.Modules = ""
	}
	o.Run.JSON = resultPath
	o.Run.SchedulerArgs = append(append([]string(nil), g.Base.Run.SchedulerArgs...), profile.Args...)
	if s.Script == "" {
		return Outcome{Status: Error, Reason: fmt.Sprintf("catalog %s: no script (WriteCatalogScripts)", s.Catalog), ExitStatus: 2}, nil
	}
	o.Script = s.Script
	var stdout, stderr bytes.Buffer
	o.Stdout = io.MultiWriter(log, &stdout)
	o.Stderr = io.MultiWriter(log, &stderr)
	o.Log = log
	code, err := vm.Run(ctx, o)
	if ctx.Err() != nil {
		return Outcome{}, context.Cause(ctx)
	}
	if err != nil {
		fmt.Fprintf(log, "ktstar gauntlet: guest: %v\n", err)
		return Outcome{Status: Error, Reason: "guest: " + err.Error(), ExitStatus: 2}, nil
	}
	return judge(code, resultPath, stdout.String(), stderr.String()), nil
}

// Host runs each cell's script on this machine with `EXE run`, as a quick
// way to try a matrix out: presets, kernels and profiles are then only
// labels (the scheduler, if any, is started with the profile's arguments).
type Host struct {
	Matrix Matrix
	Exe    string   // the ktstar binary
	Args   []string // flags before the script: --set, --scheduler, ...
	// SchedulerArgs are --scheduler-arg values every cell passes before
	// its profile's.
	SchedulerArgs []string
	Timeout       time.Duration // per cell; 0: none
}

// Run is a CellRunner.
func (h *Host) Run(ctx context.Context, c Cell, resultPath string, log io.Writer) (Outcome, error) {
	s, _, profile, _, err := h.Matrix.Lookup(c)
	if err != nil {
		return Outcome{Status: Error, Reason: err.Error(), ExitStatus: 2}, nil
	}
	if s.Script == "" {
		return Outcome{Status: Error, Reason: fmt.Sprintf("catalog %s: no script (WriteCatalogScripts)", s.Catalog), ExitStatus: 2}, nil
	}
	args := append([]string{"run", "--json", resultPath}, h.Args...)
	for _, a := range append(append([]string(nil), h.SchedulerArgs...), profile.Args...) {
		args = append(args, "--scheduler-arg", a)
	}
	if h.Timeout > 0 {
		args = append(args, "--timeout", h.Timeout.String())
	}
	cmd := exec.CommandContext(ctx, h.Exe, append(args, s.Script)...)
	// SIGTERM lets the run stop and collect its workers and cgroups.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	// A gauntlet killed outright takes its cells with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(log, &stdout), io.MultiWriter(log, &stderr)
	err = cmd.Run()
	if ctx.Err() != nil {
		return Outcome{}, context.Cause(ctx)
	}
	code := cmd.ProcessState.ExitCode()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		return Outcome{Status: Error, Reason: fmt.Sprintf("run %s: %v", h.Exe, err), ExitStatus: 2}, nil
	}
	return judge(code, resultPath, stdout.String(), stderr.String()), nil
}

// CatalogScript is the script that runs catalog entry NAME with the
// run's --set parameters.
func CatalogScript(name string) string {
	return fmt.Sprintf("load(\"@stdlib//catalog.star\", \"run\")\n\nrun(%q, params)\n", name)
}

// WriteCatalogScripts writes, for each catalog entry among m's scenarios,
// the script that runs it into the results directory, at
// catalog/NAME/NAME.star (a directory of its own: a guest gets every .star
// file below the script's), and points the scenario's Script at it. The
// files stay, saying what each cell ran.
func WriteCatalogScripts(dir string, m *Matrix) error {
	for i, s := range m.Scenarios {
		if s.Catalog == "" {
			continue
		}
		path := filepath.Join(dir, "catalog", s.Name, s.Name+".star")
		if err := writeFile(path, []byte(CatalogScript(s.Catalog))); err != nil {
			return fmt.Errorf("catalog %s: %w", s.Catalog, err)
		}
		m.Scenarios[i].Script = path
	}
	return nil
}

// skipRE matches the line a catalog entry prints when the machine cannot
// run it ("catalog: NAME: skip: REASON"); a script may print it too.
var skipRE = regexp.MustCompile(`(?m)^catalog: [^:\n]+: skip: (.*)$`)

// cellResult is the part of a ktstar --json result a cell's verdict needs.
type cellResult struct {
	DurationNs int64  `json:"duration_ns"`
	Error      string `json:"error"`
	Checks     []struct {
		Outcomes []checks.Outcome `json:"outcomes"`
	} `json:"checks"`
}

// judge turns a run's exit status, result and output into an Outcome.
func judge(code int, resultPath, stdout, stderr string) Outcome {
	out := Outcome{ExitStatus: code}
	var res cellResult
	if b, err := os.ReadFile(resultPath); err == nil {
		if err := json.Unmarshal(b, &res); err != nil {
			return Outcome{Status: Error, ExitStatus: code, Reason: fmt.Sprintf("the cell's result is not JSON: %v", err)}
		}
		out.ScenarioNs = res.DurationNs
	}
	switch code {
	case 0:
		out.Status = Pass
		if m := skipRE.FindStringSubmatch(stdout); m != nil {
			out.Status, out.Reason = Skip, strings.TrimSpace(m[1])
		}
	case 1:
		out.Status = Fail
		var failed []string
		for _, c := range res.Checks {
			for _, o := range c.Outcomes {
				if o.Status == checks.Fail {
					failed = append(failed, o.String())
				}
			}
		}
		switch {
		case len(failed) > 0:
			out.Reason = strings.Join(failed, "\n")
		case res.Error != "":
			out.Reason = res.Error
		default:
			out.Reason = lastLine(stderr)
		}
	default:
		out.Status = Error
		out.Reason = res.Error
		if out.Reason == "" {
			out.Reason = lastLine(stderr)
		}
		if out.Reason == "" {
			out.Reason = fmt.Sprintf("exit status %d", code)
		}
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
