package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"golang.org/x/term"
)

// REPLIO is where a REPL reads and writes.
type REPLIO struct {
	// In is read line by line. When it is a terminal, lines are edited
	// as in a shell (golang.org/x/term): history, Tab completes names,
	// attributes and dict keys, Ctrl-C abandons the line, and Ctrl-C
	// twice on an empty line or Ctrl-D ends the session. Otherwise lines
	// are read plainly and no prompt is printed, so a pipe or a VM serial
	// console can drive the session.
	In io.Reader
	// Out receives the value of each expression (and, on a terminal, the
	// prompts); Err receives errors.
	Out, Err io.Writer
	// Interrupt, when it receives, cancels the statement being run (not the
	// session). Nil means statements are cancelled only with ctx.
	Interrupt <-chan struct{}
	// AfterEval, when set, is called after each statement, e.g. to print
	// the summary of the spawns it stopped.
	AfterEval func()
}

// errInterrupted is what a terminal's line reader returns for Ctrl-C.
var errInterrupted = errors.New("interrupted")

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
	lines, closeLines := newLineReader(rio, globals)
	defer closeLines()
	opts := FileOptions()
	// As in go.starlark.net/repl: load binds globally, so later lines see it.
	opts.LoadBindsGlobally = true
	emptyInterrupts := 0 // Ctrl-C on an empty prompt in a row
	for {
		if ctx.Err() != nil {
			return nil
		}
		lines.prompt(">>> ")
		eof, interrupted, typed := false, false, false
		f, err := opts.ParseCompoundStmt("<stdin>", func() ([]byte, error) {
			line, err := lines.next(ctx)
			lines.prompt("... ")
			if errors.Is(err, errInterrupted) {
				interrupted, typed = true, typed || line != ""
			} else if err == nil {
				typed = true
			}
			if err != nil {
				eof = errors.Is(err, io.EOF)
				return nil, err
			}
			return []byte(line + "\n"), nil
		})
		switch {
		case interrupted && !typed:
			if emptyInterrupts++; emptyInterrupts == 2 {
				return nil
			}
			fmt.Fprintln(rio.Err, "(Ctrl-C again or Ctrl-D to leave)")
			continue
		case interrupted:
			emptyInterrupts = 0
			continue
		}
		emptyInterrupts = 0
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
		if rio.AfterEval != nil {
			rio.AfterEval()
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

func newLineReader(rio REPLIO, globals starlark.StringDict) (lineReader, func()) {
	if f, ok := rio.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t := &termReader{fd: int(f.Fd()), keys: &keyReader{r: f}, globals: globals}
		t.t = term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{t.keys, rio.Out}, ">>> ")
		t.t.AutoCompleteCallback = t.key
		t.t.History = &history{History: t.t.History, skip: &t.interrupted}
		if w, h, err := term.GetSize(t.fd); err == nil && w > 0 && h > 0 {
			t.t.SetSize(w, h)
		}
		return t, func() {}
	}
	p := &plainReader{lines: make(chan lineOrErr), done: make(chan struct{})}
	go p.read(rio.In)
	return p, func() { close(p.done) }
}

// termReader edits lines in raw mode and restores the terminal between
// lines, so that Ctrl-C during evaluation raises SIGINT as usual.
type termReader struct {
	fd          int
	t           *term.Terminal
	keys        *keyReader
	globals     starlark.StringDict // what Tab completes against
	interrupted bool                // Ctrl-C ended the line being read
}

func (r *termReader) prompt(p string) { r.t.SetPrompt(p) }

// next reads a line; Ctrl-C returns what was typed with errInterrupted.
func (r *termReader) next(context.Context) (string, error) {
	old, err := term.MakeRaw(r.fd)
	if err != nil {
		return "", err
	}
	defer term.Restore(r.fd, old)
	r.interrupted = false
	line, err := r.t.ReadLine()
	if r.interrupted {
		return strings.TrimSuffix(line, "^C"), errInterrupted
	}
	return line, err
}

// keyInterrupt is what keyReader turns Ctrl-C into: x/term would end
// ReadLine with io.EOF, indistinguishable from Ctrl-D, so the key must
// reach the completion callback instead (a private-use rune does).
const keyInterrupt = '\ue003'

// key handles the keys x/term leaves to its callback: Ctrl-C marks the
// line "^C" and ends it (keyReader then sends Enter); Tab completes.
func (r *termReader) key(line string, pos int, key rune) (string, int, bool) {
	switch key {
	case keyInterrupt:
		r.interrupted = true
		r.keys.enter = true
		return line + "^C", len(line) + 2, true
	case '\t':
		start, cands := complete(r.globals, line[:pos])
		if len(cands) == 0 {
			return line, pos, true
		}
		if len(cands) > 1 {
			// Write redraws the prompt and the line below the list.
			fmt.Fprintf(r.t, "%s\n", strings.Join(cands, "  "))
		}
		word := commonPrefix(cands)
		return line[:start] + word + line[pos:], start + len(word), true
	}
	return "", 0, false
}

// keyReader is the terminal's input as x/term reads it: each Ctrl-C
// becomes keyInterrupt, and the bytes after it wait for the next line.
type keyReader struct {
	r       io.Reader
	pending []byte // read but not yet handed on
	enter   bool   // send Enter next: the callback ended the line
}

func (k *keyReader) Read(p []byte) (int, error) {
	if k.enter {
		k.enter = false
		p[0] = '\r'
		return 1, nil
	}
	if len(k.pending) == 0 {
		buf := make([]byte, len(p))
		n, err := k.r.Read(buf)
		if n == 0 {
			return 0, err
		}
		k.pending = buf[:n]
	}
	n := len(k.pending)
	if i := bytes.IndexByte(k.pending, 3); i >= 0 {
		if i == 0 {
			k.pending = k.pending[1:]
			return utf8.EncodeRune(p, keyInterrupt), nil
		}
		n = i
	}
	n = copy(p, k.pending[:n])
	k.pending = k.pending[n:]
	return n, nil
}

// history leaves out the lines that Ctrl-C abandoned.
type history struct {
	term.History
	skip *bool
}

func (h *history) Add(line string) {
	if !*h.skip && line != "" {
		h.History.Add(line)
	}
}

type lineOrErr struct {
	line string
	err  error
}

// plainReader reads lines in a goroutine so that a cancelled session does
// not wait for input that never comes.
type plainReader struct {
	lines chan lineOrErr // closed after the last line or error
	done  chan struct{}  // closed when the session ends
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

// prompt prints nothing: a pipe or a serial console reads no prompts.
func (r *plainReader) prompt(string) {}

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
