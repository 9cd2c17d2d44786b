package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"golang.org/x/term"
)

// REPLIO is where a REPL reads and writes.
type REPLIO struct {
	// In is read line by line. When it is a terminal, lines are edited
	// with history (golang.org/x/term); otherwise they are read plainly, so
	// a pipe or a VM serial console can drive the session.
	In io.Reader
	// Out receives the value of each expression; Err receives errors and,
	// when In is not a terminal, the prompts (so Out stays clean for a pipe).
	Out, Err io.Writer
	// Interrupt, when it receives, cancels the statement being run (not the
	// session). Nil means statements are cancelled only with ctx.
	Interrupt <-chan struct{}
}

// REPL runs a read-eval-print loop until In ends or ctx is done. An
// expression's value is printed unless it is None, and kept as `_`.
// Every predeclared name is available; load() resolves against the
// working directory.
func (h *Host) REPL(ctx context.Context, rio REPLIO) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	thread, _, done := h.newThread(ctx, wd)
	defer done()
	globals := make(starlark.StringDict, len(h.Predeclared))
	for k, v := range h.Predeclared {
		globals[k] = v
	}
	lines, closeLines := newLineReader(rio)
	defer closeLines()
	opts := FileOptions()
	// As in go.starlark.net/repl: load binds globally, so later lines see it.
	opts.LoadBindsGlobally = true
	for {
		if ctx.Err() != nil {
			return nil
		}
		lines.prompt(">>> ")
		eof := false
		f, err := opts.ParseCompoundStmt("<stdin>", func() ([]byte, error) {
			line, err := lines.next(ctx)
			lines.prompt("... ")
			if err != nil {
				eof = errors.Is(err, io.EOF)
				return nil, err
			}
			return []byte(line + "\n"), nil
		})
		if err != nil {
			if eof || ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(rio.Err, Render(err))
			continue
		}
		if err := h.evalChunk(ctx, thread, f, globals, rio); err != nil {
			fmt.Fprintln(rio.Err, err)
		}
	}
}

// evalChunk runs one parsed chunk with its own cancellation.
func (h *Host) evalChunk(ctx context.Context, thread *starlark.Thread, f *syntax.File, globals starlark.StringDict, rio REPLIO) (err error) {
	chunkCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	drain(rio.Interrupt)
	if rio.Interrupt != nil {
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			select {
			case <-rio.Interrupt:
				cancel()
			case <-chunkCtx.Done():
			}
		}()
		// The watcher must be gone before the next statement starts, or it
		// could take that statement's interrupt and cancel this finished one.
		defer func() { cancel(); <-watched }()
	}
	thread.SetLocal(ContextKey, chunkCtx)
	cancelled := make(chan struct{})
	stop := context.AfterFunc(chunkCtx, func() { thread.Cancel(cause(chunkCtx)); close(cancelled) })
	defer func() {
		// A cancellation already under way must land before Uncancel, or
		// it would cancel the next statement instead of this one.
		if !stop() {
			<-cancelled
		}
		thread.Uncancel()
		thread.SetLocal(ContextKey, ctx)
		if r := recover(); r != nil {
			err = &Error{Text: fmt.Sprintf("error: internal error: %v", r), Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	if expr := soleExpr(f); expr != nil {
		v, err := starlark.EvalExprOptions(f.Options, thread, expr, globals)
		if err != nil {
			return wrap(err)
		}
		globals["_"] = v
		if v != starlark.None {
			fmt.Fprintln(rio.Out, v)
		}
		return nil
	}
	return wrap(starlark.ExecREPLChunk(f, thread, globals))
}

// drain drops interrupts that came while no statement ran (Ctrl-C at the
// prompt of a serial console), so they do not cancel the next one.
func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func soleExpr(f *syntax.File) syntax.Expr {
	if len(f.Stmts) == 1 {
		if stmt, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			return stmt.X
		}
	}
	return nil
}

// lineReader yields input lines from a terminal (with editing) or a plain
// reader.
type lineReader interface {
	prompt(p string)
	next(ctx context.Context) (string, error)
}

func newLineReader(rio REPLIO) (lineReader, func()) {
	if f, ok := rio.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t := &termReader{fd: int(f.Fd())}
		t.t = term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{f, rio.Out}, ">>> ")
		if w, h, err := term.GetSize(t.fd); err == nil && w > 0 && h > 0 {
			t.t.SetSize(w, h)
		}
		return t, func() {}
	}
	p := &plainReader{lines: make(chan lineOrErr), done: make(chan struct{}), prompts: rio.Err}
	go p.read(rio.In)
	return p, func() { close(p.done) }
}

// termReader edits lines in raw mode and restores the terminal between
// lines, so that Ctrl-C during evaluation raises SIGINT as usual.
type termReader struct {
	fd int
	t  *term.Terminal
}

func (r *termReader) prompt(p string) { r.t.SetPrompt(p) }

func (r *termReader) next(context.Context) (string, error) {
	old, err := term.MakeRaw(r.fd)
	if err != nil {
		return "", err
	}
	defer term.Restore(r.fd, old)
	return r.t.ReadLine()
}

type lineOrErr struct {
	line string
	err  error
}

// plainReader reads lines in a goroutine so that a cancelled session does
// not wait for input that never comes.
type plainReader struct {
	lines   chan lineOrErr // closed after the last line or error
	done    chan struct{}  // closed when the session ends
	prompts io.Writer
}

func (r *plainReader) read(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	defer close(r.lines)
	for sc.Scan() {
		select {
		case r.lines <- lineOrErr{line: sc.Text()}:
		case <-r.done:
			return
		}
	}
	if err := sc.Err(); err != nil {
		select {
		case r.lines <- lineOrErr{err: err}:
		case <-r.done:
		}
	}
}

func (r *plainReader) prompt(p string) {
	if r.prompts != nil {
		io.WriteString(r.prompts, p)
	}
}

func (r *plainReader) next(ctx context.Context) (string, error) {
	select {
	case l, ok := <-r.lines:
		if !ok {
			return "", io.EOF
		}
		return l.line, l.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
