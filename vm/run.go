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
	ErrPanic    = errors.New("guest kernel panicked")
	ErrGuest    = errors.New("guest failed")
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
	Err     error    // ErrTimeout, ErrPanic or ErrGuest
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
// exit code (0 ok, 1 a check or fail(), 2 an error). A non-nil error means
// the guest itself failed (no QEMU or kernel, timeout, kernel panic, a
// broken guest); the caller should then print it and exit 2. QEMU is
// killed and every temporary resource released before Run returns.
func Run(ctx context.Context, o Options) (int, error) {
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

	g := &guest{o: &o, qemu: qemu, kernel: kernel.Image, topo: topo, initrd: initrd, disk: disk,
		deadline: time.Now().Add(o.Timeout)}
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
			if res.sawOutput || res.ctxErr != nil || res.timedOut {
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
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
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
	o        *Options
	qemu     string
	kernel   string
	topo     topology
	initrd   *os.File
	disk     *os.File
	deadline time.Time
}

// bootResult is how one QEMU run ended.
type bootResult struct {
	frames      *frameReader
	console     []string
	panicLine   string
	qemuErr     error  // QEMU's exit error, if it failed
	qemuOut     string // QEMU's own stdout/stderr, bounded
	timedOut    bool
	sawOutput   bool // the guest wrote to the console or the data channel
	probeFailed bool // the KVM probe saw no output in time
	ctxErr      error
}

// boot runs QEMU once. With probe > 0 it gives up (probeFailed) when the
// guest prints nothing within probe.
func (g *guest) boot(ctx context.Context, accel string, probe time.Duration) bootResult {
	res := bootResult{frames: &frameReader{stdout: g.o.Stdout, stderr: g.o.Stderr}}
	conR, conW, err := os.Pipe()
	if err != nil {
		res.qemuErr = fmt.Errorf("console pipe: %w", err)
		return res
	}
	defer conR.Close()
	dataR, dataW, err := os.Pipe()
	if err != nil {
		conW.Close()
		res.qemuErr = fmt.Errorf("data pipe: %w", err)
		return res
	}
	defer dataR.Close()

	// ExtraFiles become fds 3, 4, 5 (, 6) in QEMU.
	files := qemuFiles{initrd: "/proc/self/fd/3", console: "/proc/self/fd/4", data: "/proc/self/fd/5"}
	extra := []*os.File{g.initrd, conW, dataW}
	if g.disk != nil {
		files.disk = "/proc/self/fd/6"
		extra = append(extra, g.disk)
	}
	cmd := exec.Command(g.qemu, qemuArgs(g.kernel, accelArg(accel, g.o.Kernel), kernelCmdline(g.o.Append), g.topo, files)...)
	qout := &boundedBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = qout, qout
	cmd.ExtraFiles = extra
	// QEMU must not outlive us even if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	conW.Close()
	dataW.Close()
	if err != nil {
		res.qemuErr = fmt.Errorf("start %s: %w", g.qemu, err)
		return res
	}

	var (
		mu       sync.Mutex // guards res.frames, res.console, res.panicLine
		started  = make(chan struct{})
		once     sync.Once
		panicked = make(chan struct{})
		reported = make(chan struct{}) // the exit frame arrived
		report   sync.Once
		readers  sync.WaitGroup
	)
	seen := func() { once.Do(func() { close(started) }) }
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
					if fr.kind == kindExit {
						report.Do(func() { close(reported) })
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
	readers.Add(2)
	go readLines(conR, true)
	go readLines(dataR, false)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timeout := time.NewTimer(time.Until(g.deadline))
	defer timeout.Stop()
	var probeC <-chan time.Time
	if probe > 0 {
		pt := time.NewTimer(probe)
		defer pt.Stop()
		probeC = pt.C
	}
	var graceC <-chan time.Time
	startedC, ctxDone := (<-chan struct{})(started), ctx.Done()
	kill := func() { cmd.Process.Kill() }
	for done := false; !done; {
		select {
		case res.qemuErr = <-exited:
			done = true
		case <-startedC:
			probeC, startedC = nil, nil
		case <-probeC:
			res.probeFailed = true
			kill()
		case <-timeout.C:
			res.timedOut = true
			kill()
		case <-ctxDone:
			res.ctxErr, ctxDone = ctx.Err(), nil
			kill()
		case <-panicked:
			// panic=-1 and -no-reboot end QEMU at once; allow for a
			// command line that overrides panic=.
			panicked, graceC = nil, time.After(exitGrace)
		case <-reported:
			// The guest powers off next; do not wait for a guest whose
			// power-off hangs.
			reported, graceC = nil, time.After(exitGrace)
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

// finish turns a boot result into Run's answer.
func (g *guest) finish(res bootResult) (int, error) {
	fr := res.frames
	gerr := func(kind error, format string, args ...any) error {
		return &GuestError{Err: kind, Detail: fmt.Sprintf(format, args...), Console: res.console}
	}
	switch {
	case res.ctxErr != nil:
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
	case res.timedOut:
		return 2, gerr(ErrTimeout, "guest did not finish within --timeout %v; QEMU killed", g.o.Timeout)
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
