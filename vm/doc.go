// Package vm runs a ktstar script inside a throwaway QEMU guest with the
// CPU, SMT, NUMA, memory and disk layout asked for, and brings its output,
// JSON result and exit code back to the host.
//
// # Contract with the ktstar command
//
// `ktstar vm [flags] SCRIPT.star [-- ARGS]` fills an [Options] from its
// flags (--kernel, --cpus, --numa via [ParseNUMA], --smt, --llcs,
// --preset via [ParsePreset] and [Preset.Apply], --memory and
// --disk via [ParseSize], --accel, --append, --timeout, --boot-timeout,
// and the run flags --json, --set, -q, --repeat, --interval into
// [RunArgs]), sets Options.Signals to its terminating signals and calls
//
//	code, err := vm.Run(ctx, opts)
//	if errors.Is(err, vm.ErrInterrupted) { print err; exit code }  // 128+n
//	if err != nil { print err; exit 2 }
//	exit code
//
// Cancelling ctx kills QEMU at once; a signal on Options.Signals is
// forwarded to the guest's run instead (below). The guest
// runs the very same binary. A dynamically linked one (go install with
// cgo) brings its program interpreter and libraries along, at their host
// paths ([ELFDeps]); a library not found on the host is an error naming
// it. main() must begin with
//
//	workload.Init()                 // re-exec'd worker: runs and exits
//	if vm.IsGuestInit() {           // PID 1 of a guest
//		vm.GuestInit()              // never returns
//	}
//
// # How a run goes
//
//	host (Run)                                guest
//	resolve topology, find qemu and kernel
//	initramfs in a memfd: /init (ktstar),
//	  its loader and libraries if dynamic,
//	  /ktstar/guest.json, /ktstar/src/**.star,
//	  /ktstar/modules/*.ko (virtio, dep order)
//	start QEMU (TCG, or KVM after a probe) ──► kernel boots, runs /init as PID 1
//	                                          GuestInit: mount proc, sys, devtmpfs,
//	                                            cgroup2 (+every controller), tmpfs /tmp;
//	                                            finit_module each module;
//	                                            open the data port
//	                                          child: /init run /ktstar/src/S.star ...
//	                                            (env KTSTAR_GUEST_INIT=1)
//	boot over; --timeout runs     ◄── frame ─── start
//	SIGINT, SIGTERM, ...          ── frame ──► the same signal to the child
//	stdout/stderr as they come    ◄── frames ── its stdout and stderr
//	write the --json file         ◄── frames ── /tmp/ktstar-result.json
//	return the exit code          ◄── frame ─── exit code; power off (reboot(2))
//
// Frames (see frame.go) are checksummed text lines on a virtio-serial
// port, falling back to ttyS1 and then the console for kernels without
// virtio_console. Each port is a socket pair with the host, which sends
// its control frames (a forwarded signal) the other way; on the console
// fallback none reach the guest. The console (ttyS0) carries the kernel
// log and init's messages; the host keeps its last lines for errors and
// watches it for "Kernel panic". panic=-1 with QEMU's -no-reboot turns a
// panic into a QEMU exit. Every guest file the host creates is a memfd, a
// pipe, a socket or an unlinked temp file passed to QEMU as an inherited
// descriptor, so nothing is left behind even if the host is killed.
//
// # Deadlines and interruptions
//
// The boot, from QEMU's start to the start frame, is bounded by
// BootTimeout (5 minutes: TCG on a loaded host is slow); past it Run
// returns ErrBootTimeout, an ErrTimeout after which nothing of the script
// has run, so booting again is safe. Options.Timeout
// counts from the start frame, so a slow boot does not eat the script's
// time: the guest's run gets it as `ktstar run --timeout` and, when it is
// up, stops and collects its workers and sends its reports, marked
// "interrupted": "timeout", and its exit status 2, exactly as on a host.
// The first host signal after the start frame is forwarded to the run,
// which ends as that signal ends a local run (reports marked with the
// signal's name, exit status 128+n). QEMU is killed, and Run says why,
// only when the guest cannot answer: a signal before the run started
// (nothing to collect), a second signal, or no exit frame StopGrace (a
// minute) after the timeout or the forwarded signal.
//
// # Accelerator
//
// AccelAuto boots with KVM when /dev/kvm opens and falls back to TCG when
// the KVM guest prints nothing within ProbeTimeout (nested KVM hangs on
// some hosts). A failed probe is remembered in KernelCacheDir/.kvm-probe,
// keyed by the host's kernel release and the QEMU binary, so later runs
// on that host start with TCG at once, quietly (the run that failed said
// so, once); deleting the file probes again.
//
// # Kernel
//
// By default the guest boots Debian's linux-image-cloud-amd64, fetched on
// first use with apt-get download and unpacked with dpkg-deb -x into
// [KernelCacheDir] (never installed). Options.Kernel boots a user's own
// bzImage; its modules are then optional (Options.Modules).
package vm
