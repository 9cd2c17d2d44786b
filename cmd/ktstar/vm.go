package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/ktstar/ktstar/vm"
	"github.com/spf13/pflag"
)

const vmUsage = `ktstar vm runs a script inside a throwaway QEMU guest with the CPU, SMT and
NUMA topology asked for, and exits with the script's exit status.

Usage:
  ktstar vm [flags] SCRIPT.star [-- ARGS]

The guest boots Debian's cloud kernel (fetched into ~/.cache/ktstar/kernel on
first use) or --kernel, with this ktstar binary as /init: a pure cgroup v2
hierarchy with every controller enabled, proc, sysfs, devtmpfs, a tmpfs /tmp
and, with --disk, a scratch disk as /dev/vda (the only place io_device may
name a device). Every .star file below the script's directory is copied in,
so load() works; errors and --json name the files by their host paths. A
dynamically linked ktstar (go install) brings its loader and libraries, and
so does each --file that is a dynamically linked program (a scheduler built
on the host): a library the host cannot find is an error naming it.

--timeout counts from the script's start in the guest, so the boot does not
count (--boot-timeout bounds that): the guest's run stops and collects its
workers as ktstar run --timeout does, and the reports come back marked
"interrupted": "timeout". SIGINT, SIGTERM, SIGHUP (any terminating signal)
are forwarded to the guest's run the same way. A second signal, a signal
before the script started, or a guest that does not stop within a minute
kills QEMU, and says so.

Exit status: the script's (0, 1, 2, or 128+n after signal n), from inside
the guest; 2 when the guest itself fails (no QEMU or kernel, a kernel panic,
a deadline past), with the last console lines; 128+n when a signal n had
QEMU killed.

Flags:
`

// vmAccelHelp explains --accel auto and its remembered probe.
const vmAccelHelp = "accelerator `MODE`: auto, kvm or tcg. auto boots with KVM if /dev/kvm opens and the guest prints within 5s, else TCG; " +
	"a failed probe is remembered for this host kernel and QEMU (~/.cache/ktstar/kernel/.kvm-probe), so later runs on a host " +
	"where nested KVM hangs start with TCG at once (delete that file to probe again)"

// bootTimeoutHelp is --boot-timeout's help, for ktstar vm and gauntlet.
const bootTimeoutHelp = "kill the guest if the script has not started after this long"

// guestFlags checks o.Run.Set and --boot-timeout and applies --memory and
// --file to o: the guest flags ktstar vm and ktstar gauntlet share.
func guestFlags(o *vm.Options, memory string, files []string) error {
	if o.BootTimeout <= 0 {
		return fmt.Errorf("--boot-timeout %v: want a positive duration", o.BootTimeout)
	}
	for _, kv := range o.Run.Set {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
	}
	if memory != "" {
		var err error
		if o.Memory, err = vm.ParseSize(memory); err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
	}
	for _, f := range files {
		file, err := vm.ParseFile(f)
		if err != nil {
			return err
		}
		o.Files = append(o.Files, file)
	}
	return nil
}

// vmMain runs `ktstar vm ARGS`.
func vmMain(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	var (
		o                  vm.Options
		numa, memory, disk string
		preset             string
		files              []string
		sched              schedFlags
		verbose            bool
		fs                 = pflag.NewFlagSet("ktstar vm", pflag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Kernel, "kernel", "", "boot the bzImage at `PATH` (it must have what the guest needs built in) instead of Debian's cloud kernel; "+vm.SchedExtKitName+" boots the sched_ext kernel make sched-ext-kit built")
	fs.IntVar(&o.CPUs, "cpus", 0, fmt.Sprintf("vCPUs (default %d, or the sum of a --numa list)", vm.DefaultCPUs))
	fs.StringVar(&numa, "numa", "", "NUMA nodes `N|LIST`: a count (CPUs and memory split evenly) or a per-node list CPUS[:MEM],... such as 3,1 or 2:1G,2:512M (0 CPUs: a memory-only node)")
	fs.IntVar(&o.SMT, "smt", 0, "hardware threads per core (2: SMT sibling pairs)")
	fs.IntVar(&o.LLCs, "llcs", 0, "last-level caches per NUMA node (QEMU dies, each with its own L3); default one per socket")
	fs.StringVar(&preset, "preset", "", "the guest shape `NAME` (ktstar presets lists them, e.g. tiny-2llc) or NnLlCcTt (nodes, LLCs, cores per LLC, threads per core: 1n2l2c1t), instead of --cpus, --numa, --llcs and --smt")
	fs.StringVar(&memory, "memory", "", "guest RAM of `SIZE`, e.g. 2G (default 1G, or the sum of a --numa list's memory)")
	fs.StringVar(&o.Accel, "accel", vm.AccelAuto, vmAccelHelp)
	fs.StringVar(&disk, "disk", "", "attach a scratch virtio disk of `SIZE` (e.g. 256M) as the guest's /dev/vda, backed by an unlinked temp file")
	fs.StringArrayVar(&files, "file", nil, "copy the host file `HOST[:GUEST]` into the guest (repeatable; GUEST defaults to HOST's absolute path); a dynamically linked ELF brings its loader and libraries")
	sched.add(fs)
	fs.StringVar(&o.Append, "append", "", "extra kernel command line `ARGS` (put last, so they override ktstar's)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "stop the script after this long in the guest, boot not included (as ktstar run --timeout; exit status 2); 0 means no limit")
	fs.DurationVar(&o.BootTimeout, "boot-timeout", vm.DefaultBootTimeout, bootTimeoutHelp)
	fs.BoolVarP(&verbose, "console", "v", false, "copy the guest's raw serial console (kernel log, init messages) to stderr")
	fs.StringVar(&o.Run.JSON, "json", "", "write the guest run's --json result to `FILE` on the host")
	fs.StringArrayVar(&o.Run.Set, "set", nil, "set params[`KEY`] to VALUE for the script (repeatable: --set k=v)")
	fs.BoolVarP(&o.Run.Quiet, "quiet", "q", false, "print only what the script prints and errors")
	fs.BoolVar(&o.Run.Histogram, "histogram", false, "add a wake-latency histogram per group to the summary")
	fs.BoolVar(&o.Run.Progress, "progress", false, "show live progress while the script holds (the guest's output is not a terminal)")
	fs.IntVar(&o.Run.Repeat, "repeat", 1, "run the script `N` times in the guest, into one result (as ktstar run --repeat)")
	fs.DurationVar(&o.Run.Interval, "interval", 0, "timeline sampling interval in the guest (as ktstar run --interval)")
	fs.StringVar(&o.Run.WorkOverride, "work-override", "", "run every swappable cgroup_def of a scenario with work type `NAME`")
	usageErr, code, done := c.parseSubcommand(fs, "vm", vmUsage, args, stderr)
	if done {
		return code
	}
	rest := fs.Args()
	if dash := fs.ArgsLenAtDash(); dash >= 0 {
		rest, o.Run.Args = rest[:dash], rest[dash:]
	}
	if len(rest) != 1 {
		return usageErr("want one SCRIPT.star, got %d argument(s): %q", len(rest), rest)
	}
	o.Script = rest[0]
	if err := guestFlags(&o, memory, files); err != nil {
		return usageErr("%v", err)
	}
	var err error
	if preset != "" {
		for _, f := range []string{"cpus", "numa", "llcs", "smt"} {
			if fs.Changed(f) {
				return usageErr("--preset %s sets the shape: drop --%s", preset, f)
			}
		}
	}
	if numa != "" {
		if o.NUMA, o.Nodes, err = vm.ParseNUMA(numa); err != nil {
			return usageErr("%v", err)
		}
	}
	if disk != "" {
		if o.Disk, err = vm.ParseSize(disk); err != nil {
			return usageErr("--disk: %v", err)
		}
	}
	if preset != "" {
		p, err := vm.ParsePreset(preset)
		if err != nil {
			return usageErr("--%v", err)
		}
		p.Apply(&o)
	}
	if sched.path != "" {
		o.Run.Scheduler, o.Run.SchedulerArgs, o.Run.SchedulerReady, o.Run.SchedulerTimeout = sched.path, sched.args, sched.ready, sched.timeout
	}
	if o.Timeout < 0 {
		return usageErr("--timeout %v: want a positive duration, or 0 for no limit", o.Timeout)
	}
	o.Stdout, o.Stderr = stdout, stderr
	if !o.Run.Quiet {
		o.Log = stderr
	}
	if verbose {
		o.Console = stderr
	}
	return c.runVM(o)
}

// runVM boots the guest and maps the outcome to an exit status. The
// terminating signals go to vm.Run, which forwards them to the guest's run.
func (c *cli) runVM(o vm.Options) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, terminating...)
	defer signal.Stop(sigs)
	fwd := make(chan os.Signal, 4)
	done := make(chan struct{})
	defer close(done)
	go func() {
		first := true
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				// Every write to a closed stdout sends one more SIGPIPE:
				// only the first counts, as in a local run.
				if !first && s == syscall.SIGPIPE {
					continue
				}
				first = false
				select {
				case fwd <- s:
				case <-done:
					return
				}
			}
		}
	}()
	o.Signals = fwd
	code, err := vm.Run(context.Background(), o)
	switch {
	case errors.Is(err, vm.ErrInterrupted):
		c.printError(fmt.Sprintf("ktstar vm: %v", err))
		return code
	case err != nil:
		c.printError(fmt.Sprintf("ktstar vm: %v", err))
		return exitError
	}
	// The guest's run already printed its errors and summary.
	return code
}

// presets prints every named guest shape: name, shape, CPUs, LLCs, NUMA
// nodes and what it is for.
func (c *cli) presets() int {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSHAPE\tCPUS\tLLCS\tNODES\tMEMORY\tDESCRIPTION")
	for _, p := range vm.Presets() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%dM\t%s\n", p.Name, p.Shape(), p.CPUs(), p.LLCs, p.Nodes, p.Memory()>>20, p.Doc)
	}
	tw.Flush()
	return exitOK
}
