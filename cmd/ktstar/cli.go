package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/ktstar/ktstar/workload"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// subcommand is one of ktstar's sub-commands. The usage text, the check
// of the operand count and the dispatch all read the table below, so a
// new sub-command is one entry.
type subcommand struct {
	name     string
	synopsis string // what follows "ktstar " in the usage text
	summary  string
	min, max int // operand count; max -1: no limit
	// run runs it on a parsed command line; own instead takes the raw
	// arguments after the name (vm, which has flags of its own).
	run func(c *cli, stdin io.Reader) int
	own func(args []string, stdout, stderr io.Writer) int
}

var subcommands = []subcommand{
	{name: "run", synopsis: "[flags] SCRIPT.star [-- ARGS]", summary: `run a script (same as "ktstar run")`, min: 1, max: 1,
		run: func(c *cli, _ io.Reader) int { return c.run(c.args[0]) }},
	{name: "vm", synopsis: "vm [flags] SCRIPT.star", summary: "run it in a throwaway QEMU guest (ktstar vm --help)", own: vmMain},
	{name: "gauntlet", synopsis: "gauntlet [flags] SCENARIO...", summary: "every scenario × preset × kernel × flag profile, a guest per cell (ktstar gauntlet --help)", own: gauntletMain},
	{name: "presets", synopsis: "presets", summary: "the named guest shapes of ktstar vm --preset and gauntlet --preset",
		run: func(c *cli, _ io.Reader) int { return c.presets() }},
	{name: "repl", synopsis: "repl", summary: "interactive session with every builtin",
		run: func(c *cli, stdin io.Reader) int { return c.repl(stdin) }},
	{name: "list", synopsis: "list", summary: "every work type: name, group size, summary",
		run: func(c *cli, _ io.Reader) int { return c.list() }},
	{name: "doc", synopsis: "doc [NAME]", summary: "a work type's parameters, defaults and ranges (NAME in any case: pipeio, futex_ping_pong); no NAME lists the types", max: 1,
		run: func(c *cli, _ io.Reader) int {
			if len(c.args) == 0 {
				return c.list()
			}
			return c.doc(c.args[0])
		}},
	{name: "catalog", synopsis: "catalog list | show NAME | run NAME", summary: "ktstr's canned scenarios (@stdlib//catalog.star): list them, show one's parameters, or run one sized to this machine (--set KEY=VALUE)", min: 1, max: 2,
		run: func(c *cli, _ io.Reader) int { return c.catalog(c.args) }},
	{name: "check", synopsis: "check SCRIPT.star", summary: "validate a script without running anything (below)", min: 1, max: 1,
		run: func(c *cli, _ io.Reader) int { return c.check(c.args[0]) }},
	{name: "summary", synopsis: "summary RESULT.json...", summary: "the end-of-run summary of saved --json results", min: 1, max: -1,
		run: func(c *cli, _ io.Reader) int { return c.showSummary(c.args) }},
	{name: "compare", synopsis: "compare BASE.json NEW.json...", summary: "what changed, group by group, and whether it is significant", min: 2, max: -1,
		run: func(c *cli, _ io.Reader) int { return c.compare(c.args) }},
	{name: "report", synopsis: "report RESULT.json [BASE.json] -o FILE.html", summary: "a self-contained HTML report with plots", min: 1, max: 2,
		run: func(c *cli, _ io.Reader) int { return c.report(c.args) }},
	{name: "version", synopsis: "version", summary: "print the version",
		run: func(c *cli, _ io.Reader) int { fmt.Fprintf(c.stdout, "ktstar %s\n", version); return exitOK }},
}

// lookup returns the sub-command called name, nil if there is none.
func lookup(name string) *subcommand {
	for i := range subcommands {
		if subcommands[i].name == name {
			return &subcommands[i]
		}
	}
	return nil
}

// usage is the help text above the flags.
func usage() string {
	var b strings.Builder
	b.WriteString("ktstar runs Linux scheduler workloads described by Starlark scripts.\n\nUsage:\n")
	for _, s := range subcommands {
		fmt.Fprintf(&b, "  %-38s %s\n", "ktstar "+s.synopsis, s.summary)
	}
	b.WriteString("\n" + checkHelp + "\nFlags:\n")
	return b.String()
}

// checkHelp says what `ktstar check` validates and what it cannot see.
const checkHelp = `ktstar check runs the script with stand-ins for everything that acts:
spawn, sleep, cgroup changes and devices are validated as a real run
validates them (work types, workload(), sched, affinity and cpusets
against this machine's CPUs, io_device, scenario structure), and the
first error is reported as a real run would report it. It cannot see what
only running shows: stop() returns stand-in reports (every measurement 1),
so fail(), failed checks and branches on measured values are not judged,
and an error in the script's own arithmetic on them ends the check with a
note, not a failure; nor whether cgroups can be created, policies set or
a device opened (root, CAP_SYS_NICE, the cgroup v2 hierarchy).
`

// operands checks the operand count against the sub-command's.
func (s *subcommand) operands(args []string) error {
	if len(args) >= s.min && (s.max < 0 || len(args) <= s.max) {
		return nil
	}
	want := fmt.Sprint(s.min)
	switch {
	case s.max < 0:
		want = fmt.Sprintf("at least %d", s.min)
	case s.max > s.min:
		want = fmt.Sprintf("%d to %d", s.min, s.max)
	}
	return fmt.Errorf("ktstar %s: want %s argument(s), got %d: %q (see ktstar --help)", s.name, want, len(args), args)
}

// cli is a parsed command line.
type cli struct {
	cmd    *subcommand
	args   []string // operands of the sub-command
	script []string // arguments after "--", for the script
	// source, when set, is the script itself, run under the name given
	// to run (ktstar catalog run generates it).
	source []byte
	json   string
	set    []string
	params map[string]string
	// timeout bounds the whole run; 0 means none.
	timeout   time.Duration
	quiet     bool
	histogram bool // --histogram: wake-latency histograms in the summary
	progress  bool // --progress: live progress even when stderr is not a terminal
	sched     schedFlags
	repeat    int // --repeat: runs of the script in one invocation
	// interval is --interval: how often timelines are sampled (0: the
	// default, 1s with --json and none without).
	interval   time.Duration
	maxRegress string // --max-regress for compare
	output     string // -o for report
	// maxWorkers is the per-spawn ceiling on workers (--max-workers).
	maxWorkers int
	// workOverride is --work-override: the work type scenarios put in
	// place of swappable cgroup_defs' work.
	workOverride string
	stdout       io.Writer
	stderr       io.Writer
	errc         *color.Color
	okc          *color.Color
	warnc        *color.Color
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
	fs.IntVar(&c.maxWorkers, "max-workers", workload.DefaultMaxWorkers, "refuse a spawn of more than `N` workers before forking any (the machine's own limits apply too)")
	fs.BoolVar(&c.progress, "progress", false, "show live progress while the script holds, even when stderr is not a terminal")
	c.sched.add(fs)
	fs.IntVar(&c.repeat, "repeat", 1, "run the script `N` times (fresh spawns, same arguments); the summary shows medians")
	fs.DurationVar(&c.interval, "interval", 0, "sample every worker's progress this often into --json's timelines (default 1s with --json); with --progress off a terminal, print a line this often")
	fs.StringVar(&c.maxRegress, "max-regress", "", "compare: exit 1 on a significant regression past a gate, e.g. `p99=10%,work_rate=5%,max_gap=20ms`")
	fs.StringVarP(&c.output, "output", "o", "", "report: write the HTML to `FILE`")
	fs.StringVar(&c.workOverride, "work-override", "", "run every swappable cgroup_def of a scenario with work type `NAME` (e.g. YieldHeavy)")
	colorMode := fs.String("color", "auto", "colour output: auto, always or never (auto honours NO_COLOR)")
	help := fs.BoolP("help", "h", false, "show this help")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage())
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
	if rest[0] == "help" {
		fs.Usage()
		return nil, exitOK, true
	}
	if c.cmd = lookup(rest[0]); c.cmd != nil && c.cmd.run != nil {
		c.args = rest[1:]
	} else {
		c.cmd, c.args = lookup("run"), rest
	}
	if c.workOverride != "" {
		if _, ok := workload.Find(c.workOverride); !ok {
			_, err := workload.NewWork(c.workOverride, nil)
			fmt.Fprintf(stderr, "ktstar: --work-override: %v\n", err)
			return nil, exitError, true
		}
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
	if err := c.cmd.operands(c.args); err != nil {
		fmt.Fprintln(stderr, err)
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
	if c.cmd.name == "report" && c.output == "" {
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
	case c.json != "" && c.cmd.name == "run":
		return defaultInterval
	}
	return 0
}

// parseSubcommand gives the flag set of sub-command "ktstar NAME" its
// --color and --help, parses args, and shows the help or sets the colour.
// It returns the sub-command's usage-error printer and, when done, the
// exit status to return at once.
func (c *cli) parseSubcommand(fs *pflag.FlagSet, name, usage string, args []string, stderr io.Writer) (usageErr func(string, ...any) int, code int, done bool) {
	colorMode := fs.String("color", "auto", "colour output: auto, always or never (auto honours NO_COLOR)")
	help := fs.BoolP("help", "h", false, "show this help")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	usageErr = func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ktstar "+name+": "+format+" (see ktstar "+name+" --help)\n", a...)
		return exitError
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return usageErr, exitOK, true
		}
		return usageErr, usageErr("%v", err), true
	}
	if *help {
		fs.Usage()
		return usageErr, exitOK, true
	}
	if err := c.setColor(*colorMode, stderr); err != nil {
		return usageErr, usageErr("%v", err), true
	}
	return usageErr, 0, false
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

// errorf prints an error in the error colour (its first line only).
func (c *cli) printError(text string) {
	first, rest, _ := strings.Cut(text, "\n")
	c.errc.Fprintln(c.stderr, first)
	if rest != "" {
		fmt.Fprintln(c.stderr, rest)
	}
}
