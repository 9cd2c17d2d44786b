package vm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Guest-side paths inside the initramfs.
const (
	guestConfigPath = "/ktstar/guest.json"
	guestSrcDir     = "/ktstar/src"
	guestModDir     = "/ktstar/modules"
	guestSerialPort = "/dev/ttyS1"
	// dataPortName names the virtio-serial port of the data channel.
	dataPortName = "ktstar.data"
	// portWait bounds the wait for the virtio-serial port, which the
	// driver adds asynchronously after the host announces it.
	portWait        = 10 * time.Second
	guestResultPath = "/tmp/ktstar-result.json"
)

// GuestEnv is set (to "1") in the environment of the `ktstar run` process
// the guest init starts. Its parent is PID 1 by design, so code that
// treats "my parent is PID 1" as "I was orphaned" (the worker start-up
// check, spec §4.3 step 2) must consult this marker first.
const GuestEnv = "KTSTAR_GUEST_INIT"

// hostDirEnv carries, to the guest's run, the host directory its script
// tree came from (see HostPaths).
const hostDirEnv = "KTSTAR_HOST_DIR"

// HostPaths rewrites the guest paths of the script tree in s (errors, the
// --json script field) to where the files are on the host, so that a
// script run through `ktstar vm` reports the paths its author knows, not
// /ktstar/src/…. Outside a guest's run it returns s unchanged.
func HostPaths(s string) string {
	dir := os.Getenv(hostDirEnv)
	if dir == "" || os.Getenv(GuestEnv) == "" {
		return s
	}
	return strings.ReplaceAll(s, guestSrcDir+"/", strings.TrimSuffix(dir, "/")+"/")
}

// guestConfig is /ktstar/guest.json: what the guest init does, written by
// the host when it builds the initramfs.
type guestConfig struct {
	Args    []string `json:"args"`     // argv[1:] of the run process
	Dir     string   `json:"dir"`      // its working directory
	HostDir string   `json:"host_dir"` // the host directory of the script tree; "" for a Command
	Modules []string `json:"modules"`  // .ko paths, in load order
	JSON    string   `json:"json"`     // guest path of the --json result; "" if none
}

// IsGuestInit reports whether this process is ktstar running as a vm guest's
// init: PID 1 with the guest configuration present. main() checks it first
// (after workload.Init) and then calls GuestInit.
func IsGuestInit() bool {
	if os.Getpid() != 1 {
		return false
	}
	_, err := os.Stat(guestConfigPath)
	return err == nil
}

// GuestInit is the guest's PID 1. It mounts the pseudo file systems,
// enables every cgroup controller, loads the shipped kernel modules, runs
// `/init run ...` as a child, streams its output, the JSON result and its
// exit code to the host as frames on the data port, and powers the guest
// off. It never returns.
func GuestInit() {
	g := &guestInit{start: time.Now()}
	code, setupErr := g.run()
	rec := exitRecord{Code: code}
	if setupErr != nil {
		rec = exitRecord{Code: 2, Error: setupErr.Error()}
		g.logf("%v", setupErr)
	}
	if g.fw != nil {
		b, _ := json.Marshal(rec)
		if err := g.send(kindExit, b); err != nil {
			g.logf("send exit code: %v", err)
		}
		g.drain()
	}
	powerOff(g)
}

type guestInit struct {
	start time.Time
	mu    sync.Mutex // serialises frames from the stdout and stderr copiers
	fw    *frameWriter
	port  *os.File
	ctl   io.Reader // the host's control frames; nil on the console fallback
	tty   bool      // port is a serial line (drain before power-off)
}

// logf writes an init message to the console, where the host keeps the
// last lines for its error reports.
func (g *guestInit) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ktstar-init: [%6.3fs] %s\n", time.Since(g.start).Seconds(), fmt.Sprintf(format, args...))
}

func (g *guestInit) run() (int, error) {
	if err := mountAll(); err != nil {
		return 2, err
	}
	data, err := os.ReadFile(guestConfigPath)
	if err != nil {
		return 2, fmt.Errorf("read guest config: %w", err)
	}
	var cfg guestConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return 2, fmt.Errorf("guest config %s: %w", guestConfigPath, err)
	}
	g.enableControllers()
	g.loadModules(cfg.Modules)
	g.openPort()
	g.logf("ready, running %s", strings.Join(cfg.Args, " "))
	return g.runScript(cfg)
}

// mountAll mounts what a ktstar run expects to find.
func mountAll() error {
	for _, m := range []struct{ fstype, target string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
		{"cgroup2", "/sys/fs/cgroup"},
		{"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", m.target, err)
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// openPort opens the data channel: the virtio-serial port if the kernel
// has virtio_console, else ttyS1 in raw mode, else the console (where
// frames survive interleaved kernel messages thanks to their checksums,
// but may be lost to them, and no signal comes from the host). The host's
// control frames arrive on the same port.
func (g *guestInit) openPort() {
	dev, err := virtioPort()
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(dev, os.O_RDWR, 0); err == nil {
			g.port, g.fw, g.ctl = f, &frameWriter{w: f}, f
			return
		}
	}
	g.logf("data port: %v; trying %s", err, guestSerialPort)
	f, err := os.OpenFile(guestSerialPort, os.O_RDWR|unix.O_NOCTTY, 0)
	if err == nil {
		if err = makeRaw(int(f.Fd())); err != nil {
			f.Close()
		}
	}
	if err != nil {
		g.logf("data port %s: %v; sending frames on the console (host signals cannot reach the run)", guestSerialPort, err)
		g.port, g.fw, g.tty = os.Stderr, &frameWriter{w: os.Stderr}, true
		return
	}
	g.port, g.fw, g.ctl = f, &frameWriter{w: f}, f
	g.tty = true
}

// virtioPort finds the device node of the virtio-serial port named
// dataPortName, waiting for the driver to add it.
func virtioPort() (string, error) {
	if _, err := os.Stat("/sys/bus/virtio/drivers/virtio_console"); err != nil {
		return "", fmt.Errorf("no virtio_console driver")
	}
	deadline := time.Now().Add(portWait)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && strings.TrimSpace(string(b)) == dataPortName {
				return "/dev/" + filepath.Base(filepath.Dir(n)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("virtio-serial port %s did not appear within %v", dataPortName, portWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// makeRaw turns off output processing (\n → \r\n) and the line discipline.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

func (g *guestInit) send(kind string, p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fw.write(kind, p)
}

// drain waits until a serial port has sent everything: powering off with
// bytes in the UART's buffer would lose the end of the stream. (A
// virtio-serial write has reached QEMU when it returns.)
func (g *guestInit) drain() {
	if !g.tty {
		return
	}
	if err := unix.IoctlSetInt(int(g.port.Fd()), unix.TCSBRK, 1); err != nil {
		g.logf("drain %s: %v", g.port.Name(), err)
	}
}

// enableControllers writes every available controller into the root's
// cgroup.subtree_control, one at a time so one refusal does not hide the
// others.
func (g *guestInit) enableControllers() {
	avail, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		g.logf("cgroup controllers: %v", err)
		return
	}
	for _, c := range strings.Fields(string(avail)) {
		if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+"+c), 0); err != nil {
			g.logf("enable cgroup controller %s: %v", c, err)
		}
	}
}

// loadModules loads the shipped modules in the given (dependency) order.
// A failure is reported and skipped: the script may not need that module,
// and if it does it fails with its own clear error.
func (g *guestInit) loadModules(paths []string) {
	for _, p := range paths {
		if err := loadModule(p); err != nil {
			g.logf("load module %s: %v", p, err)
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}

// frameSink is an io.Writer that turns a child's output into frames.
type frameSink struct {
	g    *guestInit
	kind string
}

func (s frameSink) Write(p []byte) (int, error) {
	if err := s.g.send(s.kind, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runScript runs `/init ARGS...` as an ordinary child process and returns
// its exit code. The run is not PID 1 itself, so signals, reaping and the
// workers' parent-death handling behave as on a host.
func (g *guestInit) runScript(cfg guestConfig) (int, error) {
	cmd := exec.Command("/proc/self/exe", cfg.Args...)
	cmd.Args[0] = "/init"
	cmd.Dir = cfg.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "TMPDIR=/tmp", GuestEnv + "=1", hostDirEnv + "=" + cfg.HostDir}
	cmd.Stdout = frameSink{g, kindOut}
	cmd.Stderr = frameSink{g, kindErr}
	// A worker that outlives the run and keeps the output pipe open must
	// not hold the guest up.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return 2, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	// From now on the host forwards its signals, and its run timer runs.
	if err := g.send(kindStart, nil); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 2, err
	}
	var forwarded atomic.Int32
	if g.ctl != nil {
		go g.forwardSignals(cmd.Process, &forwarded)
	}
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// A forwarded signal that came before the run could catch it
			// ends it as it would end a local run.
			if sig := ws.Signal(); int32(sig) == forwarded.Load() {
				code = 128 + int(sig)
			} else {
				fmt.Fprintf(frameSink{g, kindErr}, "ktstar-init: the run was killed by signal %v\n", sig)
				code = 2
			}
		}
	case err != nil:
		return 2, fmt.Errorf("run %s: %w", strings.Join(cmd.Args, " "), err)
	}
	if cfg.JSON != "" {
		if b, err := os.ReadFile(cfg.JSON); err == nil {
			if err := g.send(kindJSON, b); err != nil {
				return 2, err
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			g.logf("read result %s: %v", cfg.JSON, err)
		}
	}
	g.logf("run exited with code %d", code)
	return code, nil
}

// maxSignal is Linux's highest signal number (SIGRTMAX).
const maxSignal = 64

// forwardSignals reads the host's control frames and sends each signal
// in them to the run, which stops and reports as on a host.
func (g *guestInit) forwardSignals(p *os.Process, forwarded *atomic.Int32) {
	br := bufio.NewReader(g.ctl)
	for {
		line, err := br.ReadString('\n')
		fr, ok, ferr := parseFrame(strings.TrimRight(line, "\r\n"))
		n, nerr := strconv.Atoi(string(fr.payload))
		switch {
		case ferr != nil:
			g.logf("control frame: %v", ferr)
		case !ok:
		case fr.kind != kindSignal || nerr != nil || n <= 0 || n > maxSignal:
			g.logf("control frame %s %q: not a signal", fr.kind, fr.payload)
		default:
			sig := syscall.Signal(n)
			g.logf("the host forwards %s to the run", unix.SignalName(sig))
			forwarded.Store(int32(n))
			if err := p.Signal(sig); err != nil {
				g.logf("forward %s: %v", unix.SignalName(sig), err)
			}
		}
		if err != nil {
			return
		}
	}
}

// powerOff ends the guest: kill what is left, then power off (QEMU exits
// with -no-reboot). If even that fails, returning from PID 1 panics the
// kernel, which also ends the guest.
func powerOff(g *guestInit) {
	unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	g.logf("power off: %v", err)
	os.Exit(2)
}
