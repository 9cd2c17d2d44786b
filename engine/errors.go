package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ktstar/ktstar/internal/clip"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Error is a script failure rendered for people: each message starts with
// the file:line:col it happened at, and runtime errors are followed by the
// Starlark backtrace, innermost call last.
type Error struct {
	Text string // the rendered error, without a trailing newline
	Err  error  // what went wrong, for errors.As (e.g. a builtin's own error type)
}

// Error returns the rendered text.
func (e *Error) Error() string { return e.Text }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// wrap renders any error a Starlark entry point returned.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Text: Render(err), Err: err}
}

// Render formats an error from go.starlark.net: syntax and resolve errors
// as "file:line:col: error: msg" lines; evaluation errors as the position
// and message of the innermost failure followed by the backtrace.
func Render(err error) string {
	var list resolve.ErrorList
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = fmt.Sprintf("%s: error: %s", e.Pos, clip.Quoted(e.Msg))
		}
		return strings.Join(lines, "\n")
	}
	var serr syntax.Error
	if errors.As(err, &serr) {
		return fmt.Sprintf("%s: error: %s", serr.Pos, clip.Quoted(serr.Msg))
	}
	ev := innermost(err)
	if ev == nil {
		return "error: " + clip.Quoted(err.Error())
	}
	stack := ev.CallStack
	// The frame of a Go builtin has no source position; its name is
	// already in the message.
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		stack = stack[:n-1]
	}
	var b strings.Builder
	if n := len(stack); n > 0 {
		fmt.Fprintf(&b, "%s: ", stack[n-1].Pos)
	}
	fmt.Fprintf(&b, "error: %s", clip.Quoted(ev.Msg))
	if len(stack) > 0 {
		b.WriteString("\nTraceback (most recent call last):")
		for i, fr := range stack {
			// A deep recursion (a stack overflow is 100,000 frames) shows
			// its first and last frames and the count of the others.
			if n := len(stack) - 2*keepFrames; n > 0 && i == keepFrames {
				fmt.Fprintf(&b, "\n  ... %d frames elided", n)
			}
			if n := len(stack) - 2*keepFrames; n > 0 && i >= keepFrames && i < keepFrames+n {
				continue
			}
			fmt.Fprintf(&b, "\n  %s: in %s", fr.Pos, fr.Name)
		}
	}
	return b.String()
}

// keepFrames is how many frames at each end of a long backtrace are shown.
const keepFrames = 10

// innermost returns the deepest EvalError in err's chain. A failure inside
// a loaded module is wrapped by the load statement's own EvalError; the
// inner one has the full stack, since modules load on the same thread.
func innermost(err error) *starlark.EvalError {
	var last *starlark.EvalError
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ev, ok := e.(*starlark.EvalError); ok {
			last = ev
		}
	}
	return last
}

// RaisedByBuiltin reports whether a runtime error came from a Go builtin
// (a constructor, spawn, stats …) rather than from a Starlark operation
// (indexing, arithmetic, a format) of the script itself.
func RaisedByBuiltin(err error) bool {
	ev := innermost(err)
	if ev == nil {
		return false
	}
	n := len(ev.CallStack)
	return n > 0 && ev.CallStack[n-1].Pos.Filename() == "<builtin>"
}
