package scheduler

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstar/ktstar/internal/standin"
)

// waitLine waits until p's output has a line containing s, or p is gone.
func waitLine(t *testing.T, p *Process, s string) {
	t.Helper()
	for {
		for _, l := range p.Output() {
			if strings.Contains(l, s) {
				return
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("%v exited (%s) before printing %q; output %q", p, p.ExitStatus(), s, p.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestStartStop starts the stand-in, sees its output streamed with the
// prefix and kept, and stops it with SIGINT.
func TestStartStop(t *testing.T) {
	bin := standin.Build(t)
	// Read only after the process is reaped: the output goroutine has
	// finished with it by then.
	var echo bytes.Buffer
	p, err := Start(bin, nil, &echo, "[sched] ")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(0)
	waitLine(t, p, "stand-in: ready")
	if !p.Alive() || p.Name != "stand-in" || !p.Started() {
		t.Fatalf("%v: alive %v started %v, want a live started stand-in", p, p.Alive(), p.Started())
	}
	p.Stop(DefaultStopGrace)
	if p.Alive() || p.ExitStatus() != "exit status 0" {
		t.Fatalf("after Stop: alive %v, %s; want exit status 0 (it caught SIGINT)", p.Alive(), p.ExitStatus())
	}
	if last := p.LastLines(1); len(last) != 1 || last[0] != "stand-in: SIGINT, stopping" {
		t.Errorf("last line %q, want the stand-in's SIGINT line", last)
	}
	if !strings.Contains(echo.String(), "[sched] stand-in: ready pid") {
		t.Errorf("echo %q: want prefixed lines", echo.String())
	}
}

// TestStopKills: a scheduler that ignores SIGINT is killed after the grace.
func TestStopKills(t *testing.T) {
	p, err := Start(standin.Build(t), []string{"--ignore-sigint"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	waitLine(t, p, "ready")
	p.Stop(100 * time.Millisecond)
	if p.Alive() || p.ExitStatus() != "signal: killed" {
		t.Fatalf("after Stop: alive %v, %q; want killed", p.Alive(), p.ExitStatus())
	}
}

// TestExitAfter: the stand-in's early exit is seen, with its last line.
func TestExitAfter(t *testing.T) {
	p, err := Start(standin.Build(t), []string{"--exit-after=100ms"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Alive() || p.ExitStatus() != "exit status 3" || p.LastLines(1)[0] != "stand-in: exiting after 100ms as asked" {
		t.Fatalf("alive %v, %q, output %q", p.Alive(), p.ExitStatus(), p.Output())
	}
}

// TestAttachNeverStops attaches to a process the test started: Stop leaves
// it running, and Alive follows it to its end.
func TestAttachNeverStops(t *testing.T) {
	cmd := exec.Command(standin.Build(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	p, err := Attach(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.Started() || !p.Alive() || p.Name != "stand-in" {
		t.Fatalf("attached %v: started %v alive %v", p, p.Started(), p.Alive())
	}
	p.Stop(0)
	if !p.Alive() {
		t.Fatal("Stop ended an attached process")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if p.Alive() {
		t.Fatal("Alive after the attached process was reaped")
	}
	if _, err := Attach(cmd.Process.Pid); err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("Attach of a gone pid: %v", err)
	}
	if _, err := Attach(0); err == nil || !strings.Contains(err.Error(), "want a positive process id") {
		t.Errorf("Attach(0): %v", err)
	}
}

// TestExitWithChildHoldingOutput: a scheduler whose child keeps its output
// open still counts as gone once it exits, with its output kept.
func TestExitWithChildHoldingOutput(t *testing.T) {
	p, err := Start("/bin/sh", []string{"-c", "sleep 60 & echo bye"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// The sleep is in the scheduler's process group: kill it there.
	defer syscall.Kill(-p.Pid, syscall.SIGKILL)
	<-p.Done()
	if p.ExitStatus() != "exit status 0" || strings.Join(p.Output(), "|") != "bye" {
		t.Fatalf("%q, output %q", p.ExitStatus(), p.Output())
	}
}
