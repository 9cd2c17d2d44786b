// Command ktstar runs Linux scheduler workloads described by Starlark
// scripts and reports what every worker measured.
//
//	ktstar [flags] SCRIPT.star [-- ARGS]   run a script (same as `ktstar run`)
//	ktstar vm [flags] SCRIPT.star [-- ARGS] run it in a throwaway QEMU guest
//	ktstar presets                         the named guest shapes of --preset
//	ktstar repl                            interactive session
//	ktstar list                            every work type
//	ktstar doc [NAME]                      one work type's parameters (any spelling), or the list
//	ktstar check SCRIPT.star               validate without running anything
//	ktstar summary RESULT.json...          the summary of saved results
//	ktstar compare BASE.json NEW.json...   what changed, and whether it is significant
//	ktstar report RESULT.json [BASE.json] -o FILE.html
//	ktstar version
//
// Exit status: 0 success, 1 fail(), a failed check or a worker killed by a
// signal ktstar did not send, 2 a usage, script or spawn error, 128+n
// after a terminating signal n (once every worker is collected and reaped).
package main

import (
	"io"
	"os"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/vm"
	"github.com/ktstar/ktstar/workload"
)

// version is ktstar's release, reported by `ktstar version` and in --json.
const version = "0.1.0-dev"

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1 // fail() or a failed check
	exitError  = 2 // usage, script or spawn error
	exitSignal = 128
)

func main() {
	// Before Init: a re-exec'd worker running a Starlark custom function
	// finds its runner in the registry.
	starlib.RegisterCustomRunner(engine.RunModule, engine.Render)
	// A re-exec'd worker runs here and never returns.
	workload.Init()
	// So does PID 1 of a `ktstar vm` guest.
	if vm.IsGuestInit() {
		vm.GuestInit()
	}
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// A sub-command with flags of its own (vm) parses everything after
	// its name itself.
	if len(args) > 0 {
		if s := lookup(args[0]); s != nil && s.own != nil {
			return s.own(args[1:], stdout, stderr)
		}
	}
	c, status, done := parse(args, stdout, stderr)
	if done {
		return status
	}
	return c.cmd.run(c, stdin)
}
