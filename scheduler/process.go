package scheduler

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// keepLines bounds the output a Process keeps (the oldest go first).
const keepLines = 1000

// outputGrace bounds the wait for a process's last output after it exits.
const outputGrace = time.Second

// DefaultStopGrace is how long Stop waits after SIGINT before SIGKILL.
const DefaultStopGrace = 3 * time.Second

// Process is a scheduler process: one ktstar started, or one it attached
// to and must never signal.
type Process struct {
	Name    string // the program's base name (started) or its comm (attached)
	Pid     int
	started bool
	cmd     *exec.Cmd
	done    chan struct{} // closed once a started process is reaped
	waitErr error         // set before done closes

	mu    sync.Mutex
	lines []string
}

// Start runs path with args, its stdout and stderr merged and kept line by
// line; each line is also written to echo (if not nil) after prefix.
func Start(path string, args []string, echo io.Writer, prefix string) (*Process, error) {
	cmd := exec.Command(path, args...)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", path, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so a terminal's ^C reaches ktstar, which
	// stops the scheduler in order, rather than both at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("scheduler: start %s: %w", path, err)
	}
	w.Close()
	p := &Process{Name: filepath.Base(path), Pid: cmd.Process.Pid, started: true, cmd: cmd, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.add(sc.Text())
			if echo != nil {
				fmt.Fprintf(echo, "%s%s\n", prefix, sc.Text())
			}
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		// Its last lines are kept before it counts as gone; a child of
		// its that keeps the pipe open holds that up for outputGrace
		// at most.
		t := time.NewTimer(outputGrace)
		defer t.Stop()
		select {
		case <-read:
		case <-t.C:
		}
		close(p.done)
	}()
	return p, nil
}

// Attach watches the live process pid, which ktstar did not start and
// will never signal.
func Attach(pid int) (*Process, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("scheduler.attach: pid %d: want a positive process id", pid)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return nil, fmt.Errorf("scheduler.attach: pid %d: no such process", pid)
	}
	return &Process{Name: strings.TrimSpace(string(comm)), Pid: pid}, nil
}

// Planned is the process a check-only run (ktstar check) would start
// from path: pid 0, never alive, never signalled.
func Planned(path string) *Process { return &Process{Name: filepath.Base(path)} }

// Started reports whether ktstar started the process (and so may stop it).
func (p *Process) Started() bool { return p.started }

func (p *Process) add(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == keepLines {
		p.lines = p.lines[1:]
	}
	p.lines = append(p.lines, line)
}

// Output returns the kept output lines, oldest first (nil for an attached
// process, whose output ktstar cannot see).
func (p *Process) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// LastLines returns at most n of the last output lines.
func (p *Process) LastLines(n int) []string {
	out := p.Output()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Done is closed when a started process has exited and been reaped; nil
// for an attached one.
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive reports whether the process still runs (a zombie does not).
func (p *Process) Alive() bool {
	if p.started {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	if p.Pid == 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised comm, which may hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return false
}

// ExitStatus describes how a started process ended ("" while it runs).
func (p *Process) ExitStatus() string {
	if !p.started || p.Alive() {
		return ""
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return "exit status 0"
	case errors.As(p.waitErr, &ee):
		return ee.Error()
	default:
		return p.waitErr.Error()
	}
}

// Stop ends a started process: SIGINT (a sched_ext scheduler unregisters
// on it), then SIGKILL if it still runs after grace. It does nothing to an
// attached process.
func (p *Process) Stop(grace time.Duration) {
	if !p.started || !p.Alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// String names the process for messages: "scx_simple (pid 42)".
func (p *Process) String() string { return p.Name + " (pid " + strconv.Itoa(p.Pid) + ")" }
