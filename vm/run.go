package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors Run reports; test with errors.Is. ErrTimeout, ErrPanic and
// ErrGuest come wrapped in a *GuestError carrying the last console lines.
var (
	ErrNoQEMU   = errors.New("qemu not found")
	ErrNoKernel = errors.New("no guest kernel")
	ErrTimeout  = errors.New("guest timed out")
	// ErrBootTimeout is the ErrTimeout of a guest that had not started its
	// run: nothing of the script ran, so booting again is safe.
	ErrBootTimeout = fmt.Errorf("%w before its run started", ErrTimeout)
	ErrPanic       = errors.New("guest kernel panicked")
	ErrGuest       = errors.New("guest failed")
	// ErrInterrupted: a host signal (Options.Signals) ended the guest
	// without its results: it came before the run started, came twice,
	// or the guest did not stop within StopGrace. Run's code is then
	// 128+n, as for a local run ended by signal n.
	ErrInterrupted = errors.New("guest interrupted")
)

const (
	// consoleKeep is how many console lines a GuestError shows.
	consoleKeep = 40
	// exitGrace is how long QEMU may take to exit after the guest reported
	// its exit code or panicked before it is killed.
	exitGrace = 5 * time.Second
)

// GuestError is a failed guest: what went wrong and the console's last
// lines, which usually say why.
type GuestError struct {
	Err     error    // ErrTimeout, ErrPanic, ErrGuest or ErrInterrupted
	Detail  string   // what happened, for the user
	Console []string // the last console lines, oldest first
}

func (e *GuestError) Error() string {
	var b strings.Builder
	b.WriteString(e.Detail)
	if len(e.Console) > 0 {
		fmt.Fprintf(&b, "\nlast %d console lines:", len(e.Console))
		for _, l := range e.Console {
			b.WriteString("\n  | ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *GuestError) Unwrap() error { return e.Err }

// Run boots a throwaway QEMU guest with the topology in o, runs o.Script in
// it with ktstar as /init, streams the script's output to o.Stdout and
// o.Stderr, writes the JSON result to o.Run.JSON, and returns the script's
// exit code (0 ok, 1 a check or fail(), 2 an error or its --timeout,
// 128+n after a forwarded signal n). A non-nil error means the guest
// itself failed (no QEMU or kernel, timeout, kernel panic, a broken
// guest); the caller should then print it and exit 2, or with the
// returned code for ErrInterrupted. Cancelling ctx kills QEMU at once. QEMU
// is gone and every temporary resource released before Run returns.
func Run(ctx context.Context, o Options) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := newRelay(o.Signals, cancel)
	defer r.stop()
	code, err := run(ctx, o, r)
	if sig := r.early(); sig != 0 && err != nil && !errors.Is(err, ErrInterrupted) {
		return signalCode(sig), &GuestError{Err: ErrInterrupted,
			Detail: fmt.Sprintf("%s before the guest booted: stopped (nothing to collect)", unix.SignalName(sig))}
	}
	return code, err
}

// signalCode is the exit status of a run ended by sig.
func signalCode(sig syscall.Signal) int { return 128 + int(sig) }

// relay hands the host's signals (Options.Signals) to the boot under way.
// One that comes while no guest runs (a kernel download, the moment
// between the KVM probe and the TCG boot) cancels the run instead.
type relay struct {
	ch      chan syscall.Signal
	cancel  context.CancelCauseFunc
	done    chan struct{}
	mu      sync.Mutex
	booting bool
	first   syscall.Signal // the first signal that came outside a boot
}

func newRelay(in <-chan os.Signal, cancel context.CancelCauseFunc) *relay {
	r := &relay{ch: make(chan syscall.Signal, 4), cancel: cancel, done: make(chan struct{})}
	if in == nil {
		return r
	}
	go func() {
		for {
			select {
			case <-r.done:
				return
			case s, ok := <-in:
				if !ok {
					return
				}
				sig, ok := s.(syscall.Signal)
				if !ok {
					sig = syscall.SIGTERM
				}
				r.mu.Lock()
				if r.booting {
					select {
					case r.ch <- sig:
					default: // a flood of signals: the boot has enough to act on
					}
				} else if r.first == 0 {
					r.first = sig
					r.cancel(fmt.Errorf("%w by %s", ErrInterrupted, unix.SignalName(sig)))
				}
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// setBooting marks whether a boot is reading r.ch.
func (r *relay) setBooting(b bool) {
	r.mu.Lock()
	r.booting = b
	r.mu.Unlock()
}

// early returns the signal that came while no guest ran, if any.
func (r *relay) early() syscall.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

func (r *relay) stop() { close(r.done) }

// run is Run with the signal relay in place.
func run(ctx context.Context, o Options, r *relay) (int, error) {
	o.fill()
	topo, err := o.resolve()
	if err != nil {
		return 2, err
	}
	if o.Command == nil {
		if _, err := os.Stat(o.Script); err != nil {
			return 2, fmt.Errorf("script: %w", err)
		}
	}
	// Files and their libraries are checked before anything is booted or
	// fetched: a missing library is the user's to fix.
	want := o.Files
	if o.Run.Scheduler != "" && o.Command == nil {
		want = append(want[:len(want):len(want)], File{Host: o.Run.Scheduler, Guest: path.Join(GuestSchedulerDir, filepath.Base(o.Run.Scheduler))})
	}
	files, fileLibs, err := resolveFiles(want)
	if err != nil {
		return 2, err
	}
	// A --kernel that is not there is the user's error whatever is
	// installed, so it is reported before QEMU is looked for; the default
	// kernel is fetched only once QEMU is known to be there.
	var kernel Kernel
	if o.Kernel != "" {
		if kernel, err = o.kernel(ctx); err != nil {
			return 2, err
		}
	}
	qemu, err := exec.LookPath(o.QEMU)
	if err != nil {
		return 2, fmt.Errorf("%w: %s is not on PATH: install Debian's qemu-system-x86 (vm/deps.sh)", ErrNoQEMU, o.QEMU)
	}
	if o.Kernel == "" {
		if kernel, err = o.kernel(ctx); err != nil {
			return 2, err
		}
	}
	init := o.Init
	if init == "" {
		if init, err = os.Executable(); err != nil {
			return 2, fmt.Errorf("guest init binary: %w", err)
		}
	}
	// A dynamically linked ktstar (go install with cgo) brings its loader
	// and libraries along.
	libs, err := ELFDeps(init)
	if err != nil {
		return 2, fmt.Errorf("guest init binary: %w", err)
	}
	var mods []kmod
	if kernel.Modules != "" {
		if mods, err = resolveModules(kernel.Modules, guestModules); err != nil {
			return 2, err
		}
	}
	libs = appendNew(libs, fileLibs)
	ramfs, err := newInitramfs(&o, init, libs, mods)
	if err != nil {
		return 2, err
	}
	ramfs.files = files
	initrd, err := memfile("ktstar-initramfs", ramfs.write)
	if err != nil {
		return 2, fmt.Errorf("build initramfs: %w", err)
	}
	defer initrd.Close()
	var disk *os.File
	if o.Disk > 0 {
		if disk, err = scratchDisk(o.Disk); err != nil {
			return 2, err
		}
		defer disk.Close()
	}

	g := &guest{o: &o, qemu: qemu, kernel: kernel.Image, topo: topo, initrd: initrd, disk: disk, sigs: r}
	accel := o.Accel
	if accel == AccelAuto {
		probe := newKVMProbe(qemu)
		// Each note is printed once per host: the run that learns it says
		// so, with the record to delete to probe again; later runs are quiet.
		if err := kvmUsable(); err != nil {
			if newKVMRecord(qemu, kvmUnusableName).firstTime(err.Error()) {
				fmt.Fprintf(o.Log, "ktstar vm: KVM not usable (%v); using TCG (slower; said once per host)\n", err)
			}
			accel = AccelTCG
		} else if _, failed := probe.failed(); failed {
			accel = AccelTCG
		} else {
			res := g.boot(ctx, AccelKVM, o.ProbeTimeout)
			if res.sawOutput {
				probe.forget()
			}
			// A KVM guest that printed nothing, whether it hung or QEMU
			// gave up at once, is retried under TCG.
			if res.sawOutput || res.ctxErr != nil || res.timedOut != "" || res.signal != 0 {
				return g.finish(res)
			}
			why := fmt.Sprintf("KVM guest printed nothing in %v%s", o.ProbeTimeout, qemuSays(res.qemuOut))
			fmt.Fprintf(o.Log, "ktstar vm: %s; falling back to TCG (slower%s)\n", why, probe.remember(why))
			accel = AccelTCG
		}
	}
	return g.finish(g.boot(ctx, accel, 0))
}

// fill applies the defaults.
func (o *Options) fill() {
	if o.QEMU == "" {
		o.QEMU = DefaultQEMU
	}
	if o.Accel == "" {
		o.Accel = AccelAuto
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = DefaultBootTimeout
	}
	if o.StopGrace == 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	for _, w := range []*io.Writer{&o.Stdout, &o.Stderr, &o.Log} {
		if *w == nil {
			*w = io.Discard
		}
	}
}

// kernel returns the kernel to boot: o.Kernel, the sched_ext test bed's
// for SchedExtKitName, or the cached Debian one.
func (o *Options) kernel(ctx context.Context) (Kernel, error) {
	k := Kernel{Image: o.Kernel, Modules: o.Modules}
	if o.Kernel == SchedExtKitName {
		kit, err := FindSchedExtKit()
		if err != nil {
			return Kernel{}, fmt.Errorf("%w: --kernel %s: %v", ErrNoKernel, SchedExtKitName, err)
		}
		k.Image = kit.Kernel
	}
	if o.Kernel == "" {
		var err error
		if k, err = DefaultKernel(ctx, o.Log); err != nil {
			return Kernel{}, err
		}
		if o.Modules != "" {
			k.Modules = o.Modules
		}
	}
	if _, err := os.Stat(k.Image); err != nil {
		return Kernel{}, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	return k, nil
}

// memfile fills an anonymous memory file. QEMU opens it as
// /proc/self/fd/N, so the initramfs never exists in a file system.
func memfile(name string, fill func(io.Writer) error) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if err := fill(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// scratchDisk creates a sparse temp file of size bytes and unlinks it at
// once: QEMU reaches it through the inherited descriptor, and the space
// is freed when both processes close it, however they end.
func scratchDisk(size int64) (*os.File, error) {
	f, err := os.CreateTemp("", "ktstar-disk-*.img")
	if err != nil {
		return nil, fmt.Errorf("scratch disk: %w", err)
	}
	os.Remove(f.Name())
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("scratch disk of %d bytes: %w", size, err)
	}
	return f, nil
}

// kvmUsable reports why KVM cannot be used, or nil.
func kvmUsable() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// guest is one Run's fixed inputs, shared by its boot attempts.
type guest struct {
	o      *Options
	qemu   string
	kernel string
	topo   topology
	initrd *os.File
	disk   *os.File
	sigs   *relay
}

// bootResult is how one QEMU run ended.
type bootResult struct {
	frames      *frameReader
	console     []string
	panicLine   string
	qemuErr     error  // QEMU's exit error, if it failed
	qemuOut     string // QEMU's own stdout/stderr, bounded
	timedOut    string // which deadline killed QEMU, for the user
	bootTimeout bool   // that deadline was the boot timeout
	signal      syscall.Signal
	interrupted string // how a host signal ended the guest, for the user
	sawOutput   bool   // the guest wrote to the console or the data channel
	probeFailed bool   // the KVM probe saw no output in time
	ctxErr      error
}

// boot runs QEMU once. With probe > 0 it gives up (probeFailed) when the
// guest prints nothing within probe.
func (g *guest) boot(ctx context.Context, accel string, probe time.Duration) bootResult {
	res := bootResult{frames: &frameReader{stdout: g.o.Stdout, stderr: g.o.Stderr}}
	// A pipe for the console; a socket pair for each port of the data
	// channel (ttyS1, virtio-serial), which carries the guest's frames to
	// the host and the host's control frames to the guest. [0] is ours,
	// [1] QEMU's.
	var p [3][2]*os.File
	for i := range p {
		var err error
		if p[i], err = channel(i == 0); err != nil {
			res.qemuErr = err
			closeAll(p[:i])
			return res
		}
	}
	con, dataS, dataV := p[0], p[1], p[2]
	defer closeAll(p[:])

	// ExtraFiles become fds 3, 4, ... in QEMU.
	files := qemuFiles{initrd: "/proc/self/fd/3", console: "/proc/self/fd/4", dataSerial: 5, dataVirtio: 6}
	extra := []*os.File{g.initrd, con[1], dataS[1], dataV[1]}
	if g.disk != nil {
		files.disk = "/proc/self/fd/7"
		extra = append(extra, g.disk)
	}
	cmd := exec.Command(g.qemu, qemuArgs(g.kernel, accelArg(accel, g.o.Kernel), kernelCmdline(g.o.Append), g.topo, files)...)
	qout := &boundedBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = qout, qout
	cmd.ExtraFiles = extra
	// QEMU must not outlive us even if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	g.sigs.setBooting(true)
	defer g.sigs.setBooting(false)
	err := cmd.Start()
	// Only QEMU keeps these ends.
	for _, f := range p {
		f[1].Close()
	}
	if err != nil {
		res.qemuErr = fmt.Errorf("start %s: %w", g.qemu, err)
		return res
	}

	var (
		mu       sync.Mutex // guards res.frames, res.console, res.panicLine
		started  = make(chan struct{})
		once     sync.Once
		panicked = make(chan struct{})
		runStart = make(chan struct{}) // the start frame arrived
		reported = make(chan struct{}) // the exit frame arrived
		readers  sync.WaitGroup
	)
	seen := func() { once.Do(func() { close(started) }) }
	closeOnce := map[string]chan struct{}{kindStart: runStart, kindExit: reported}
	readLines := func(r io.Reader, console bool) {
		defer readers.Done()
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				seen()
				if console && g.o.Console != nil {
					io.WriteString(g.o.Console, line)
				}
				line = strings.TrimRight(line, "\r\n")
				fr, isFrame, ferr := parseFrame(line)
				mu.Lock()
				switch {
				case ferr != nil:
					res.frames.fail(ferr)
				case isFrame:
					res.frames.add(fr)
					if c := closeOnce[fr.kind]; c != nil {
						close(c)
						delete(closeOnce, fr.kind)
					}
				case console:
					res.console = appendRing(res.console, line, consoleKeep)
					if res.panicLine == "" && strings.Contains(line, "Kernel panic") {
						res.panicLine = strings.TrimSpace(line)
						close(panicked)
					}
				}
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	readers.Add(3)
	go readLines(con[0], true)
	go readLines(dataS[0], false)
	go readLines(dataV[0], false)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	bootT := time.NewTimer(g.o.BootTimeout)
	defer bootT.Stop()
	var probeC <-chan time.Time
	if probe > 0 {
		pt := time.NewTimer(probe)
		defer pt.Stop()
		probeC = pt.C
	}
	var (
		graceC, runC, stopC <-chan time.Time
		forwarded           syscall.Signal
		runStarted          bool
		// The guest reads the port it writes to; both get the frame.
		ctl = frameWriter{w: io.MultiWriter(dataV[0], dataS[0])}
	)
	startedC, ctxDone, bootC, sigC := (<-chan struct{})(started), ctx.Done(), bootT.C, (<-chan syscall.Signal)(g.sigs.ch)
	kill := func() { cmd.Process.Kill() }
	interrupt := func(sig syscall.Signal, format string, args ...any) {
		res.signal, res.interrupted = sig, fmt.Sprintf(format, args...)
		sigC = nil
		kill()
	}
	for done := false; !done; {
		select {
		case res.qemuErr = <-exited:
			done = true
		case <-startedC:
			probeC, startedC = nil, nil
		case <-runStart:
			runStart, bootC, runStarted = nil, nil, true
			if limit := g.runLimit(); limit > 0 {
				runC = time.After(limit)
			}
		case <-probeC:
			res.probeFailed = true
			kill()
		case <-bootC:
			res.timedOut = fmt.Sprintf("the guest did not start its run within the boot timeout %v", g.o.BootTimeout)
			res.bootTimeout = true
			kill()
		case <-runC:
			if g.o.Command != nil {
				res.timedOut = fmt.Sprintf("the guest's run did not finish within --timeout %v", g.o.Timeout)
			} else {
				res.timedOut = fmt.Sprintf("the guest's run did not stop within %v of its --timeout %v", g.o.StopGrace, g.o.Timeout)
			}
			kill()
		case <-ctxDone:
			res.ctxErr, ctxDone = ctx.Err(), nil
			kill()
		case sig := <-sigC:
			name := unix.SignalName(sig)
			switch {
			case forwarded != 0:
				interrupt(sig, "a second signal (%s) while the guest's run was stopping after %s: QEMU killed, the run's results are lost", name, unix.SignalName(forwarded))
			case !runStarted:
				interrupt(sig, "%s before the run started in the guest: QEMU killed (nothing to collect)", name)
			default:
				forwarded = sig
				if err := ctl.write(kindSignal, []byte(strconv.Itoa(int(sig)))); err != nil {
					interrupt(sig, "%s: cannot tell the guest (%v): QEMU killed, the run's results are lost", name, err)
					break
				}
				fmt.Fprintf(g.o.Log, "ktstar vm: %s: the guest's run stops and collects its workers (a second signal kills QEMU)\n", name)
				stopC = time.After(g.o.StopGrace)
			}
		case <-stopC:
			interrupt(forwarded, "the guest's run did not stop within %v of %s: QEMU killed, the run's results are lost", g.o.StopGrace, unix.SignalName(forwarded))
		case <-panicked:
			// panic=-1 and -no-reboot end QEMU at once; allow for a
			// command line that overrides panic=.
			panicked, graceC = nil, time.After(exitGrace)
		case <-reported:
			// The guest powers off next; do not wait for a guest whose
			// power-off hangs.
			reported, runC, stopC, graceC = nil, nil, nil, time.After(exitGrace)
		case <-graceC:
			kill()
		}
	}
	readers.Wait()
	select {
	case <-started:
		res.sawOutput = true
	default:
	}
	res.qemuOut = qout.String()
	return res
}

// runLimit is how long after its start the guest's run may take before
// QEMU is killed; 0 means no limit. A script's run keeps its own
// --timeout (per repetition) and then needs the time to stop and report.
func (g *guest) runLimit() time.Duration {
	if g.o.Timeout == 0 || g.o.Command != nil {
		return g.o.Timeout
	}
	return g.o.Timeout*time.Duration(max(1, g.o.Run.Repeat)) + g.o.StopGrace
}

// channel returns a pipe (read end first) or a connected socket pair.
func channel(pipe bool) ([2]*os.File, error) {
	if pipe {
		r, w, err := os.Pipe()
		if err != nil {
			return [2]*os.File{}, fmt.Errorf("console pipe: %w", err)
		}
		return [2]*os.File{r, w}, nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return [2]*os.File{}, fmt.Errorf("data channel socket pair: %w", err)
	}
	return [2]*os.File{os.NewFile(uintptr(fds[0]), "data"), os.NewFile(uintptr(fds[1]), "data-qemu")}, nil
}

func closeAll(pipes [][2]*os.File) {
	for _, p := range pipes {
		p[0].Close()
		p[1].Close()
	}
}

// finish turns a boot result into Run's answer.
func (g *guest) finish(res bootResult) (int, error) {
	fr := res.frames
	gerr := func(kind error, format string, args ...any) error {
		return &GuestError{Err: kind, Detail: fmt.Sprintf(format, args...), Console: res.console}
	}
	switch {
	case res.ctxErr != nil && fr.exit == nil:
		return 2, fmt.Errorf("guest stopped: %w", res.ctxErr)
	case fr.exit != nil && fr.exit.Error != "":
		return 2, gerr(ErrGuest, "guest init failed: %s", fr.exit.Error)
	case fr.exit != nil && fr.err != nil:
		return 2, gerr(ErrGuest, "the guest's output was damaged in transit: %v", fr.err)
	case fr.exit != nil:
		if g.o.Run.JSON != "" && fr.sawJSON {
			if err := os.WriteFile(g.o.Run.JSON, fr.json.Bytes(), 0o644); err != nil {
				return 2, fmt.Errorf("write --json result: %w", err)
			}
		}
		return fr.exit.Code, nil
	case res.signal != 0:
		return signalCode(res.signal), gerr(ErrInterrupted, "%s", res.interrupted)
	case res.bootTimeout:
		return 2, gerr(ErrBootTimeout, "%s: QEMU killed", res.timedOut)
	case res.timedOut != "":
		return 2, gerr(ErrTimeout, "%s: QEMU killed", res.timedOut)
	case res.panicLine != "":
		return 2, gerr(ErrPanic, "guest kernel panicked: %s", res.panicLine)
	case res.probeFailed:
		return 2, gerr(ErrGuest, "KVM guest printed nothing within %v", g.o.ProbeTimeout)
	case res.qemuErr != nil:
		return 2, gerr(ErrGuest, "qemu failed: %v%s", res.qemuErr, qemuSays(res.qemuOut))
	default:
		return 2, gerr(ErrGuest, "guest powered off without reporting an exit code%s", qemuSays(res.qemuOut))
	}
}

// qemuSays formats QEMU's own messages for an error, if it printed any.
func qemuSays(out string) string {
	if out = strings.TrimSpace(out); out == "" {
		return ""
	}
	return " (qemu: " + out + ")"
}

func appendRing(lines []string, line string, keep int) []string {
	if len(lines) == keep {
		copy(lines, lines[1:])
		lines = lines[:keep-1]
	}
	return append(lines, line)
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := min(len(p), b.max-len(b.b)); n > 0 {
		b.b = append(b.b, p[:n]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
