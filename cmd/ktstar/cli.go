package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

const usage = `ktstar runs Linux scheduler workloads described by Starlark scripts.

Usage:
  ktstar [flags] SCRIPT.star [-- ARGS]   run a script (same as "ktstar run")
  ktstar vm [flags] SCRIPT.star          run it in a throwaway QEMU guest (ktstar vm --help)
  ktstar repl                            interactive session with every builtin
  ktstar list                            every work type: name, group size, summary
  ktstar doc NAME                        a work type's parameters, defaults and ranges
  ktstar check SCRIPT.star               parse and resolve a script without running it
  ktstar summary RESULT.json...          the end-of-run summary of saved --json results
  ktstar compare BASE.json NEW.json...   what changed, group by group, and whether it is significant
  ktstar report RESULT.json [BASE.json] -o FILE.html   a self-contained HTML report with plots
  ktstar version                         print the version

Flags:
`

// cli is a parsed command line.
type cli struct {
	cmd    string   // run, repl, list, doc, check, version
	args   []string // operands of the sub-command
	script []string // arguments after "--", for the script
	json   string
	set    []string
	params map[string]string
	// timeout bounds the whole run; 0 means none.
	timeout   time.Duration
	quiet     bool
	histogram bool // --histogram: wake-latency histograms in the summary
	progress  bool // --progress: live progress even when stderr is not a terminal
	repeat    int  // --repeat: runs of the script in one invocation
	// interval is --interval: how often timelines are sampled (0: the
	// default, 1s with --json and none without).
	interval   time.Duration
	maxRegress string // --max-regress for compare
	output     string // -o for report
	stdout     io.Writer
	stderr     io.Writer
	errc       *color.Color
	okc        *color.Color
	warnc      *color.Color
}

var commands = map[string]bool{"run": true, "repl": true, "list": true, "doc": true, "check": true, "summary": true, "compare": true, "report": true, "version": true, "help": true}

// arity is the number of operands each sub-command takes: at least min,
// at most max (-1: no limit).
var arity = map[string]struct{ min, max int }{
	"run": {1, 1}, "check": {1, 1}, "doc": {1, 1}, "summary": {1, -1}, "compare": {2, -1},
	"report": {1, 2}, "repl": {0, 0}, "list": {0, 0}, "version": {0, 0},
}

// parse reads flags and the sub-command. done is true when nothing is
// left to do (help, or a usage error whose status is returned).
func parse(args []string, stdout, stderr io.Writer) (c *cli, status int, done bool) {
	c = &cli{stdout: stdout, stderr: stderr}
	fs := pflag.NewFlagSet("ktstar", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.json, "json", "", "write everything measured (reports, per-group summaries, check outcomes, host facts) as JSON to `FILE`")
	fs.StringArrayVar(&c.set, "set", nil, "set params[`KEY`] to VALUE for the script (repeatable: --set k=v)")
	fs.DurationVar(&c.timeout, "timeout", 0, "stop the script after this long (e.g. 30s); 0 means no limit")
	fs.BoolVarP(&c.quiet, "quiet", "q", false, "print only what the script prints, failed checks and errors")
	fs.BoolVar(&c.histogram, "histogram", false, "add a wake-latency histogram per group to the summary")
	fs.BoolVar(&c.progress, "progress", false, "show live progress while the script holds, even when stderr is not a terminal")
	fs.IntVar(&c.repeat, "repeat", 1, "run the script `N` times (fresh spawns, same arguments); the summary shows medians")
	fs.DurationVar(&c.interval, "interval", 0, "sample every worker's progress this often into --json's timelines (default 1s with --json); with --progress off a terminal, print a line this often")
	fs.StringVar(&c.maxRegress, "max-regress", "", "compare: exit 1 on a significant regression past a gate, e.g. `p99=10%,work_rate=5%,max_gap=20ms`")
	fs.StringVarP(&c.output, "output", "o", "", "report: write the HTML to `FILE`")
	colorMode := fs.String("color", "auto", "colour output: auto, always or never (auto honours NO_COLOR)")
	help := fs.BoolP("help", "h", false, "show this help")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, exitOK, true
		}
		fmt.Fprintf(stderr, "ktstar: %v (see ktstar --help)\n", err)
		return nil, exitError, true
	}
	if *help {
		fs.Usage()
		return nil, exitOK, true
	}
	if err := c.setColor(*colorMode, stderr); err != nil {
		fmt.Fprintf(stderr, "ktstar: %v\n", err)
		return nil, exitError, true
	}
	rest := fs.Args()
	if dash := fs.ArgsLenAtDash(); dash >= 0 {
		rest, c.script = rest[:dash], rest[dash:]
	}
	if len(rest) == 0 {
		fs.Usage()
		return nil, exitError, true
	}
	if commands[rest[0]] {
		c.cmd, c.args = rest[0], rest[1:]
	} else {
		c.cmd, c.args = "run", rest
	}
	if c.cmd == "help" {
		fs.Usage()
		return nil, exitOK, true
	}
	c.params = map[string]string{}
	for _, kv := range c.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "ktstar: --set %q: want KEY=VALUE\n", kv)
			return nil, exitError, true
		}
		c.params[k] = v
	}
	if a := arity[c.cmd]; len(c.args) < a.min || a.max >= 0 && len(c.args) > a.max {
		want := fmt.Sprint(a.min)
		switch {
		case a.max < 0:
			want = fmt.Sprintf("at least %d", a.min)
		case a.max > a.min:
			want = fmt.Sprintf("%d to %d", a.min, a.max)
		}
		fmt.Fprintf(stderr, "ktstar %s: want %s argument(s), got %d: %q (see ktstar --help)\n", c.cmd, want, len(c.args), c.args)
		return nil, exitError, true
	}
	if c.repeat < 1 || c.repeat > maxRepeat {
		fmt.Fprintf(stderr, "ktstar: --repeat=%d: want 1 to %d\n", c.repeat, maxRepeat)
		return nil, exitError, true
	}
	if c.interval < 0 || c.interval > 0 && c.interval < minInterval {
		fmt.Fprintf(stderr, "ktstar: --interval=%v: want at least %v\n", c.interval, minInterval)
		return nil, exitError, true
	}
	if c.cmd == "report" && c.output == "" {
		fmt.Fprintln(stderr, "ktstar report: want -o FILE.html")
		return nil, exitError, true
	}
	return c, 0, false
}

// Bounds of --repeat and --interval.
const (
	maxRepeat   = 1000
	minInterval = 10 * time.Millisecond
)

// defaultInterval samples timelines when --json is given without --interval.
const defaultInterval = time.Second

// timelineInterval is how often the session samples timelines: --interval,
// else defaultInterval when there is a --json to keep them, else never.
func (c *cli) timelineInterval() time.Duration {
	switch {
	case c.interval > 0:
		return c.interval
	case c.json != "" && c.cmd == "run":
		return defaultInterval
	}
	return 0
}

// setColor applies --color: auto colours a terminal unless NO_COLOR is set.
func (c *cli) setColor(mode string, stderr io.Writer) error {
	switch mode {
	case "always":
		color.NoColor = false
	case "never":
		color.NoColor = true
	case "auto":
		f, ok := stderr.(*os.File)
		color.NoColor = os.Getenv("NO_COLOR") != "" || !ok || !term.IsTerminal(int(f.Fd()))
	default:
		return fmt.Errorf("--color=%q: want auto, always or never", mode)
	}
	c.errc = color.New(color.FgRed, color.Bold)
	c.okc = color.New(color.FgGreen)
	c.warnc = color.New(color.FgYellow)
	return nil
}

func (c *cli) dispatch(stdin io.Reader) int {
	switch c.cmd {
	case "run":
		return c.run(c.args[0])
	case "repl":
		return c.repl(stdin)
	case "list":
		return c.list()
	case "doc":
		return c.doc(c.args[0])
	case "check":
		return c.check(c.args[0])
	case "summary":
		return c.showSummary(c.args)
	case "compare":
		return c.compare(c.args)
	case "report":
		return c.report(c.args)
	case "version":
		fmt.Fprintf(c.stdout, "ktstar %s\n", version)
		return exitOK
	}
	return exitError
}

// errorf prints an error in the error colour (its first line only).
func (c *cli) printError(text string) {
	first, rest, _ := strings.Cut(text, "\n")
	c.errc.Fprintln(c.stderr, first)
	if rest != "" {
		fmt.Fprintln(c.stderr, rest)
	}
}
