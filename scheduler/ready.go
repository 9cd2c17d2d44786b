package scheduler

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"
)

// Readiness modes of Ready.Mode (--scheduler-ready).
const (
	ReadySchedExt = "sched_ext" // sched_ext enabled with a BPF scheduler's ops
	ReadyRunning  = "running"   // alive after a settle time
	ReadyLine     = "line"      // a line of its output matches Ready.Line
)

// Defaults of WaitReady.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultSettle       = 500 * time.Millisecond
	// readyPoll is how often WaitReady looks.
	readyPoll = 20 * time.Millisecond
	// lastLines is how many output lines an early exit's message quotes.
	lastLines = 5
)

// Ready says when a started scheduler is ready for the script.
type Ready struct {
	Mode string
	Line *regexp.Regexp // for ReadyLine
}

// ParseReady reads --scheduler-ready: sched_ext, running or line:REGEX.
func ParseReady(s string) (Ready, error) {
	switch {
	case s == "" || s == ReadySchedExt:
		return Ready{Mode: ReadySchedExt}, nil
	case s == ReadyRunning:
		return Ready{Mode: ReadyRunning}, nil
	case strings.HasPrefix(s, ReadyLine+":"):
		re, err := regexp.Compile(strings.TrimPrefix(s, ReadyLine+":"))
		if err != nil {
			return Ready{}, fmt.Errorf("--scheduler-ready %q: %w", s, err)
		}
		return Ready{Mode: ReadyLine, Line: re}, nil
	}
	return Ready{}, fmt.Errorf("--scheduler-ready %q: want sched_ext, running or line:REGEX", s)
}

// CanStart fails at once when r cannot be met on this kernel: sched_ext
// readiness without sched_ext.
func (r Ready) CanStart(fsys fs.FS) error {
	if r.Mode != ReadySchedExt {
		return nil
	}
	st, err := ReadState(fsys)
	if err != nil {
		return err
	}
	if st.State == NoSchedExt {
		return fmt.Errorf("--scheduler-ready sched_ext: %s", NoSchedExtMsg)
	}
	return nil
}

// WaitReady waits until p is ready as r says, for at most timeout; settle
// is how long ReadyRunning waits. It fails when p exits first, quoting its
// last output lines, and on the timeout, saying what it waited for.
func WaitReady(ctx context.Context, p *Process, r Ready, fsys fs.FS, timeout, settle time.Duration) error {
	deadline := time.Now().Add(timeout)
	settled := time.Now().Add(settle)
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last State
	for {
		if !p.Alive() {
			return p.exitedError("before it was ready")
		}
		switch r.Mode {
		case ReadyRunning:
			if !time.Now().Before(settled) {
				return nil
			}
		case ReadyLine:
			for _, l := range p.Output() {
				if r.Line.MatchString(l) {
					return nil
				}
			}
		default:
			st, err := ReadState(fsys)
			if err != nil {
				return fmt.Errorf("scheduler %s: %w", p.Name, err)
			}
			if st.State == NoSchedExt {
				return fmt.Errorf("scheduler %s: %s", p.Name, NoSchedExtMsg)
			}
			if st.State == "enabled" && st.Ops != "" {
				return nil
			}
			last = st
		}
		if time.Now().After(deadline) {
			what := map[string]string{
				ReadyRunning:  "it to keep running",
				ReadyLine:     fmt.Sprintf("a line matching %q", r.Line),
				ReadySchedExt: fmt.Sprintf("sched_ext enabled (state: %s)", last),
			}[r.Mode]
			return fmt.Errorf("scheduler %s not ready after %v: waited for %s%s", p.Name, timeout, what, quote(p.LastLines(lastLines)))
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.Done():
		case <-tick.C:
		}
	}
}

// exitedError says that a started p exited, how, and its last lines.
func (p *Process) exitedError(when string) error {
	return fmt.Errorf("scheduler %s exited %s (%s)%s", p.Name, when, p.ExitStatus(), quote(p.LastLines(lastLines)))
}

// quote formats output lines for an error message.
func quote(lines []string) string {
	if len(lines) == 0 {
		return "; it printed nothing"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "; its last %d output lines:", len(lines))
	for _, l := range lines {
		b.WriteString("\n  | ")
		b.WriteString(l)
	}
	return b.String()
}
