package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/ptytest"
)

// replTerm is `ktstar repl` on a pseudo-terminal, as a person uses it.
type replTerm struct {
	t    *testing.T
	in   func(string)
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // signalled on each output chunk
	done chan struct{} // closed when the REPL has exited, with err set
	err  error
}

func startREPL(t *testing.T) *replTerm {
	master, slave := ptytest.Open(t)
	cmd := exec.Command(bin, "repl")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replTerm{t: t, more: make(chan struct{}, 1), done: make(chan struct{})}
	r.in = func(s string) {
		if _, err := master.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { r.err = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// waitFor waits until the output holds n occurrences of s (the REPL
// answers at its own pace; the minute only catches a hung session).
//
// Keys must be typed only once the prompt they answer is out: before
// that the terminal is not in raw mode and would eat a Ctrl-C.
func (r *replTerm) waitFor(s string, n int) {
	r.t.Helper()
	deadline := time.After(time.Minute)
	for {
		r.mu.Lock()
		got := strings.Count(r.out.String(), s)
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-r.more:
		case <-r.done:
			r.t.Fatalf("repl exited (%v) before printing %q %d times; output:\n%q", r.err, s, n, r.output())
		case <-deadline:
			r.t.Fatalf("no %q (%d times) after a minute; output:\n%q", s, n, r.output())
		}
	}
}

func (r *replTerm) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// TestREPLTerminal types into the REPL as a person would: Ctrl-C
// abandons a half-typed line and the session keeps its globals, Tab
// completes module members and dict keys, help() prints a work type's
// parameters, and Ctrl-C twice on an empty line leaves.
func TestREPLTerminal(t *testing.T) {
	r := startREPL(t)
	prompts := 1
	r.waitFor(">>> ", prompts)
	step := func(keys string) {
		r.in(keys)
		prompts++
		r.waitFor(">>> ", prompts)
	}
	step("kept = 41\r")
	step("kept = kept +\x03") // half-typed, abandoned
	if strings.Contains(r.output(), "Traceback") {
		t.Fatalf("Ctrl-C ran the half-typed line:\n%q", r.output())
	}
	step("kept + 1\r")
	r.waitFor("42", 1)

	r.in("work.fu\t")
	r.waitFor("futex_fan_out  futex_ping_pong", 1)
	prompts++ // the prompt is drawn again below the list
	r.waitFor(">>> ", prompts)
	r.waitFor("work.futex_", 1) // completed as far as both agree
	step("\x03")

	step("d = {'wake_latencies_ns': 1, 'work_units': 2}\r")
	step("d['wa\t\r") // completes to d['wake_latencies_ns']
	r.waitFor("d['wake_latencies_ns']", 1)

	step("help(work.bursty)\r")
	for _, w := range []string{"Bursty (work.bursty)", "burst_duration", "sleep_duration"} {
		r.waitFor(w, 1)
	}

	r.in("\x03")
	r.waitFor("Ctrl-C again or Ctrl-D to leave", 1)
	prompts++
	r.waitFor(">>> ", prompts)
	r.in("\x03")
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("repl exited with %v after Ctrl-C twice, want status 0; output:\n%q", r.err, r.output())
		}
	case <-time.After(time.Minute):
		t.Fatalf("repl still running after Ctrl-C twice on an empty line; output:\n%q", r.output())
	}
}

// TestREPLCtrlD leaves the REPL with Ctrl-D on an empty line.
func TestREPLCtrlD(t *testing.T) {
	r := startREPL(t)
	r.waitFor(">>> ", 1)
	r.in("\x04")
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("repl exited with %v after Ctrl-D, want status 0", r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("repl still running after Ctrl-D")
	}
}
