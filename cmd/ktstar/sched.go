package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ktstar/ktstar/result"
	"github.com/ktstar/ktstar/scheduler"
	"github.com/spf13/pflag"
)

// schedFlags are the --scheduler flags `ktstar run` and `ktstar vm` share.
type schedFlags struct {
	path    string
	args    []string
	ready   string
	timeout time.Duration
}

func (f *schedFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "scheduler", "", "start the scheduler at `PATH` before the script, wait until it is ready (--scheduler-ready), stream its output with a [sched] prefix, keep it in --json, and stop it (SIGINT, then SIGKILL) after the run; scripts see it as scheduler.current()")
	fs.StringArrayVar(&f.args, "scheduler-arg", nil, "an argument `A` for --scheduler (repeatable, in order)")
	fs.StringVar(&f.ready, "scheduler-ready", scheduler.ReadySchedExt, "when --scheduler is ready: sched_ext (sched_ext enabled with its ops), line:REGEX (an output line matches) or running (alive after 0.5s; userspace schedulers, stand-ins)")
	fs.DurationVar(&f.timeout, "scheduler-timeout", scheduler.DefaultReadyTimeout, "fail when --scheduler is not ready after this long")
}

// startScheduler starts --scheduler and waits until it is ready; on an
// error it has already stopped it.
func (c *cli) startScheduler(ctx context.Context) (*scheduler.Process, *result.Scheduler, error) {
	r, err := scheduler.ParseReady(c.sched.ready)
	if err != nil {
		return nil, nil, err
	}
	sysfs := os.DirFS(scheduler.SysFS)
	// Without sched_ext, sched_ext readiness fails before anything starts.
	if err := r.CanStart(sysfs); err != nil {
		return nil, nil, err
	}
	name := filepath.Base(c.sched.path)
	p, err := scheduler.Start(c.sched.path, c.sched.args, c.stderr, "["+name+"] ")
	if err != nil {
		return nil, nil, err
	}
	rec := &result.Scheduler{Path: c.sched.path, Args: c.sched.args, Pid: p.Pid, Ready: c.sched.ready}
	if rec.Args == nil {
		rec.Args = []string{}
	}
	if err := scheduler.WaitReady(ctx, p, r, sysfs, c.sched.timeout, scheduler.DefaultSettle); err != nil {
		p.Stop(scheduler.DefaultStopGrace)
		return nil, nil, err
	}
	if st, err := scheduler.ReadState(sysfs); err == nil && st.State != scheduler.NoSchedExt {
		rec.State = &st
	}
	return p, rec, nil
}

// stopScheduler stops --scheduler after the run and completes its record.
func stopScheduler(p *scheduler.Process, rec *result.Scheduler) {
	p.Stop(scheduler.DefaultStopGrace)
	rec.ExitStatus = p.ExitStatus()
	rec.Output = p.Output()
	if rec.Output == nil {
		rec.Output = []string{}
	}
}

// schedulerErr prefixes a --scheduler failure.
func schedulerErr(err error) string { return fmt.Sprintf("ktstar: --scheduler: %v", err) }
