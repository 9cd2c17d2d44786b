package starlib

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// sleep implements the builtin
//
//	def sleep(d)
//
// which pauses the script for d, a time.duration or a string like "50ms".
// It returns at once when the run is interrupted or times out.
func (s *Session) sleep(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d durationParam
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "d", &d); err != nil {
		return nil, err
	}
	dur := time.Duration(d)
	if dur < 0 {
		return nil, fmt.Errorf("%s: d = %v is out of range (allowed: 0s or more)", b.Name(), dur)
	}
	if err := s.Hold(threadContext(thread), dur); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.None, nil
}

// Hold waits for d, or until ctx ends (returning its cause), showing the
// progress of every running handle meanwhile. Every builtin that holds a
// run (sleep, a scenario's hold) waits through it, so progress looks the
// same everywhere. Handles must not be stopped from another goroutine
// during the hold.
func (s *Session) Hold(ctx context.Context, d time.Duration) error {
	if s.opts.CheckOnly {
		return context.Cause(ctx)
	}
	if s.opts.Progress != nil {
		defer s.opts.Progress.Show(d, s.progressGroups())()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// FailError is the error of fail() and of checks.require: the script
// itself declared failure, which the command reports with exit status 1
// rather than 2.
type FailError struct {
	Msg string
	By  string // the builtin that failed; "" means fail
}

// Error returns the builtin's name (fail, checks.require), ": " and the
// message.
func (e *FailError) Error() string {
	by := e.By
	if by == "" {
		by = "fail"
	}
	return by + ": " + e.Msg
}

// fail implements the builtin
//
//	def fail(*args, sep = " ")
//
// which stops the script with the message made of args (as print does).
func fail(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep := " "
	if err := starlark.UnpackArgs(b.Name(), nil, kwargs, "sep?", &sep); err != nil {
		return nil, err
	}
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(starlark.String); ok {
			parts[i] = string(s)
		} else {
			parts[i] = a.String()
		}
	}
	return nil, &FailError{Msg: strings.Join(parts, sep)}
}

// paramsDict is the frozen `params` dict of --set key=value pairs.
func paramsDict(params map[string]string) *starlark.Dict {
	d := starlark.NewDict(len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		d.SetKey(starlark.String(k), starlark.String(params[k]))
	}
	d.Freeze()
	return d
}

// argsList is the frozen `args` list of the script's arguments.
func argsList(args []string) *starlark.List {
	l := make([]starlark.Value, len(args))
	for i, a := range args {
		l[i] = starlark.String(a)
	}
	list := starlark.NewList(l)
	list.Freeze()
	return list
}
