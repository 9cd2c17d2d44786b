package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.starlark.net/starlark"
)

// testHost has one Go builtin that panics and a tiny stdlib, so the
// engine is tested without ktstar's modules.
func testHost(out *strings.Builder) *Host {
	return &Host{
		Predeclared: starlark.StringDict{
			"boom": starlark.NewBuiltin("boom", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
				panic("kaboom")
			}),
			// block waits for the run's context, as every blocking builtin must.
			"block": starlark.NewBuiltin("block", func(th *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
				<-Context(th).Done()
				return nil, fmt.Errorf("block: %w", context.Cause(Context(th)))
			}),
		},
		Out:    out,
		Stdlib: fstest.MapFS{"greet.star": {Data: []byte("def greet(n):\n    return 'hi ' + n\n")}},
	}
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoads runs a script whose modules load each other: relative to the
// loading file, from the stdlib, and each module executes once.
func TestLoads(t *testing.T) {
	var out strings.Builder
	if _, err := testHost(&out).Run(context.Background(), "testdata/tree/main.star"); err != nil {
		t.Fatal(err)
	}
	if want := "loading a\nA AB hi x\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestDialectAndErrors covers the dialect and error rendering of scripts
// written on the fly.
func TestDialectAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string // want: "" for success, else a substring of the error
	}{
		{"dialect", "s = set([1])\nn = 0\nwhile n < 3:\n    n += 1\nif n == 3:\n    n = 4\ndef f(k):\n    return 1 if k == 0 else f(k - 1)\nf(3)\n", ""},
		// Builtins should guard themselves (starlib does, with a position);
		// this is the engine's backstop.
		{"panic", "boom()\n", "error: internal error: kaboom"},
		{"unknown stdlib", `load("@stdlib//nope.star", "x")`, `no module "nope.star" in the standard library (modules: greet.star)`},
		{"unknown repo", `load("@foo//x.star", "x")`, `unknown repository in "@foo//x.star"`},
		{"absolute", `load("/etc/x.star", "x")`, `absolute path "/etc/x.star"`},
		{"missing", `load("nope.star", "x")`, "cannot load nope.star: read "},
		{"undefined", "print(nope)\n", "s.star:1:7: error: undefined: nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			_, err := testHost(&out).Run(context.Background(), writeScript(t, tc.src))
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestSymlinkOutOfTree checks that a symlink cannot lead a load out of the
// script's tree.
func TestSymlinkOutOfTree(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.star")
	os.WriteFile(outside, []byte("x = 1\n"), 0o644)
	script := writeScript(t, `load("link.star", "x")`)
	if err := os.Symlink(outside, filepath.Join(filepath.Dir(script), "link.star")); err != nil {
		t.Fatal(err)
	}
	_, err := testHost(new(strings.Builder)).Run(context.Background(), script)
	if err == nil || !strings.Contains(err.Error(), "outside the script's directory") {
		t.Fatalf("err = %v, want an out-of-tree error", err)
	}
}

// TestCancel checks that a context's end stops a busy script at once.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, errors.New("timed out"))
	defer cancel()
	start := time.Now()
	_, err := testHost(new(strings.Builder)).Run(ctx, writeScript(t, "while True:\n    pass\n"))
	if err == nil || !strings.Contains(err.Error(), "cancelled: timed out") {
		t.Fatalf("err = %v, want a cancellation", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
}

// TestCheck resolves without running: errors in the script and in the
// modules it loads are all reported, and nothing is printed.
func TestCheck(t *testing.T) {
	var out strings.Builder
	h := testHost(&out)
	if err := h.Check("testdata/tree/main.star"); err != nil {
		t.Fatalf("check of a good tree: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("check printed %q", out.String())
	}
	err := h.Check(writeScript(t, "load(\"nope.star\", \"x\")\nprint(undefined_name)\n"))
	if err == nil || !strings.Contains(err.Error(), "s.star:1:6: error: cannot load nope.star") || !strings.Contains(err.Error(), "undefined: undefined_name") {
		t.Fatalf("err = %v", err)
	}
}

// TestREPLPipe drives the REPL through a reader: expressions print their
// value, statements span lines, errors go to Err and the session goes on.
func TestREPLPipe(t *testing.T) {
	var out, errs strings.Builder
	in := strings.NewReader("x = 6\ndef f(n):\n    return n * 7\n\nf(x)\nnope\nprint('ok')\n")
	err := testHost(&out).REPL(context.Background(), REPLIO{In: in, Out: &out, Err: &errs})
	checkREPL(t, err, out.String(), errs.String(), "42\nok\n", "<stdin>:1:1: error: undefined: nope")
}

// TestREPLInterrupt checks that an interrupt cancels the statement that
// is running, not the session, and that one at the prompt is dropped.
func TestREPLInterrupt(t *testing.T) {
	var out, errs strings.Builder
	pr, pw := io.Pipe()
	intr := make(chan struct{}, 1)
	intr <- struct{}{} // stale: came while no statement ran
	h := testHost(&out)
	block := h.Predeclared["block"].(*starlark.Builtin)
	started := make(chan struct{})
	h.Predeclared["block"] = starlark.NewBuiltin("block", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		close(started)
		return block.CallInternal(th, args, kwargs)
	})
	done := make(chan error)
	go func() { done <- h.REPL(context.Background(), REPLIO{In: pr, Out: &out, Err: &errs, Interrupt: intr}) }()
	io.WriteString(pw, "print('first')\n")
	io.WriteString(pw, "block()\n")
	<-started
	intr <- struct{}{}
	io.WriteString(pw, "print('after')\n")
	pw.Close()
	err := <-done // the session has ended: out and errs are complete
	checkREPL(t, err, out.String(), errs.String(), "first\nafter\n", "block: context canceled")
}

// checkREPL fails t unless a REPL session ended without error, printed
// exactly wantOut and reported wantErr among its errors.
func checkREPL(t *testing.T, err error, out, errs, wantOut, wantErr string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if out != wantOut {
		t.Errorf("out = %q, errors = %q", out, errs)
	}
	if !strings.Contains(errs, wantErr) {
		t.Errorf("errors = %q", errs)
	}
}

// TestRunModule runs a module on its own, as a custom work's worker does:
// its loads may reach the script's tree above the module's directory,
// which a script rooted at the module's directory could not.
func TestRunModule(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "lib"), 0o755)
	for name, src := range map[string]string{
		"common.star":  "base = 40\n",
		"lib/mod.star": "load('../common.star', 'base')\nprint('loaded')\nanswer = base + 2\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	globals, err := RunModule(context.Background(), filepath.Join(dir, "lib/mod.star"), nil, &out)
	if err != nil || globals["answer"] != starlark.MakeInt(42) || out.String() != "loaded\n" {
		t.Fatalf("globals %v, output %q, err %v; want answer = 42 and the print", globals, out.String(), err)
	}
	if _, err := (&Host{}).Run(context.Background(), filepath.Join(dir, "lib/mod.star")); err == nil || !strings.Contains(err.Error(), "outside the script's directory") {
		t.Errorf("as a script, the module's load of ../common.star gave %v, want it refused", err)
	}
}

// TestRunSource runs a script given as text: it loads the stdlib, prints,
// and its errors name it by the name given.
func TestRunSource(t *testing.T) {
	var out strings.Builder
	h := testHost(&out)
	globals, err := h.RunSource(context.Background(), "gen:x", []byte("load('@stdlib//greet.star', 'greet')\nprint(greet('you'))\nn = 1\n"))
	if err != nil || globals["n"] != starlark.MakeInt(1) || out.String() != "hi you\n" {
		t.Fatalf("globals %v, output %q, err %v", globals, out.String(), err)
	}
	_, err = h.RunSource(context.Background(), "gen:y", []byte("x = 1\nundefined_name\n"))
	if err == nil || !strings.Contains(err.Error(), "gen:y:2:1:") {
		t.Fatalf("error %v, want it to name gen:y:2:1", err)
	}
}
