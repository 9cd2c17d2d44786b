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
  ktstar doc [NAME]                      a work type's parameters, defaults and ranges (any case:
                                         FutexPingPong, futex_ping_pong, pipeio); no NAME lists them
  ktstar check SCRIPT.star               validate a script without running anything (below)
  ktstar summary RESULT.json             the end-of-run summary of a saved --json result
  ktstar version                         print the version

ktstar check runs the script with stand-ins for everything that acts:
spawn, sleep, cgroup changes and devices are validated as a real run
validates them (work types, workload(), sched, affinity and cpusets
against this machine's CPUs, io_device, scenario structure), and the
first error is reported as a real run would report it. It cannot see what
only running shows: stop() returns stand-in reports (every measurement 1),
so fail(), failed checks and branches on measured values are not judged,
and an error in the script's own arithmetic on them ends the check with a
note, not a failure; nor whether cgroups can be created, policies set or
a device opened (root, CAP_SYS_NICE, the cgroup v2 hierarchy).

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
	stdout    io.Writer
	stderr    io.Writer
	errc      *color.Color
	okc       *color.Color
	warnc     *color.Color
}

var commands = map[string]bool{"run": true, "repl": true, "list": true, "doc": true, "check": true, "summary": true, "version": true, "help": true}

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
	want := map[string]int{"run": 1, "check": 1, "doc": 1, "summary": 1, "repl": 0, "list": 0, "version": 0}[c.cmd]
	if len(c.args) != want && !(c.cmd == "doc" && len(c.args) == 0) {
		fmt.Fprintf(stderr, "ktstar %s: want %d argument(s), got %d: %q (see ktstar --help)\n", c.cmd, want, len(c.args), c.args)
		return nil, exitError, true
	}
	return c, 0, false
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
		if len(c.args) == 0 {
			return c.list()
		}
		return c.doc(c.args[0])
	case "check":
		return c.check(c.args[0])
	case "summary":
		return c.showSummary(c.args[0])
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
