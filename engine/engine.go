// Package engine is ktstar's Starlark host: it runs a script file with
// ktstar's dialect and a caller-supplied set of predeclared names, resolves
// load() statements, sends print() to the caller's writer, cancels the
// script when a context ends and renders errors as file:line:col with the
// Starlark backtrace.
//
// The engine knows nothing about work types: the predeclared names (the
// starlib modules) are given to it. Builtins that block read the run's
// context from the thread local "context" (the convention of
// go.starlark.net/repl), see [Context].
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ktstar/ktstar/stdlib"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// ContextKey is the thread-local key under which the engine stores the
// run's context.Context.
const ContextKey = "context"

// StdlibPrefix starts the module name of a library module embedded in the
// binary: load("@stdlib//phases.star", "phases").
const StdlibPrefix = "@stdlib//"

// FileOptions returns ktstar's Starlark dialect: set, while, top-level
// control flow, global reassignment and recursion are all allowed.
func FileOptions() *syntax.FileOptions {
	return &syntax.FileOptions{
		Set:             true,
		While:           true,
		TopLevelControl: true,
		GlobalReassign:  true,
		Recursion:       true,
	}
}

// Context returns the context of the run a thread belongs to, or
// context.Background when the thread was not started by the engine.
func Context(thread *starlark.Thread) context.Context {
	if ctx, ok := thread.Local(ContextKey).(context.Context); ok {
		return ctx
	}
	return context.Background()
}

// Host runs scripts. Its fields are read-only once a run starts; one Host
// may run several scripts one after another.
type Host struct {
	// Predeclared names every script and loaded module sees, in addition to
	// the Starlark universe. The engine never modifies it.
	Predeclared starlark.StringDict
	// Out receives print() output. Nil discards it.
	Out io.Writer
	// Stdlib holds the @stdlib// modules; nil means the embedded stdlib.
	Stdlib fs.FS
	// InitThread, when set, is called on each new thread before it runs,
	// e.g. to set thread locals that the caller's builtins read.
	InitThread func(*starlark.Thread)
}

// Run executes the script at path until it ends, fails or ctx is done, and
// returns its globals. Loads are confined to the directory tree of the
// script. Errors are *[Error] values whose Error method renders them.
func (h *Host) Run(ctx context.Context, path string) (starlark.StringDict, error) {
	root, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return h.run(ctx, path, root)
}

// RunSource executes src as a script called name, as Run does a file:
// ktstar's own generated scripts (ktstar catalog run). Its file loads are
// confined to the working directory's tree.
func (h *Host) RunSource(ctx context.Context, name string, src []byte) (starlark.StringDict, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return h.runScript(ctx, name, name, root, src)
}

// RunModule executes one module file of a script on its own, as the
// worker process of a Starlark custom work does with the module defining
// its function: predeclared names as given, print to out, and its loads
// resolved as for a script but confined only to the file system root,
// since the script that loaded the module already ran it, and its loads,
// within the script's own tree.
func RunModule(ctx context.Context, path string, predeclared starlark.StringDict, out io.Writer) (starlark.StringDict, error) {
	h := &Host{Predeclared: predeclared, Out: out}
	return h.run(ctx, path, string(filepath.Separator))
}

// run executes the script at path with file loads confined to root.
func (h *Host) run(ctx context.Context, path, root string) (starlark.StringDict, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	name := filepath.Clean(path)
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	return h.runScript(ctx, abs, name, root, src)
}

// runScript executes src, the script known to loads as key and to
// messages as name, with file loads confined to root.
func (h *Host) runScript(ctx context.Context, key, name, root string, src []byte) (starlark.StringDict, error) {
	thread, l, done := h.newThread(ctx, root)
	defer done()
	// The script is a module of its own run, so a load of it is a cycle.
	l.enter(key, name)
	defer l.leave()
	return h.exec(thread, name, src)
}

// exec runs one file on thread. A Go panic in a builtin becomes an error
// here rather than a stack dump.
func (h *Host) exec(thread *starlark.Thread, name string, src []byte) (globals starlark.StringDict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Text: fmt.Sprintf("error: internal error: %v", r), Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	globals, err = starlark.ExecFileOptions(FileOptions(), thread, name, src, h.Predeclared)
	return globals, wrap(err)
}

// newThread makes the thread of one run: print, load and cancellation.
// done releases the goroutine that watches ctx.
func (h *Host) newThread(ctx context.Context, root string) (*starlark.Thread, *loader, func()) {
	l := &loader{host: h, root: root, cache: map[string]*module{}, names: map[string]string{}}
	thread := &starlark.Thread{
		Name:  "ktstar",
		Print: h.print,
		Load:  l.load,
	}
	thread.SetLocal(ContextKey, ctx)
	if h.InitThread != nil {
		h.InitThread(thread)
	}
	stop := context.AfterFunc(ctx, func() { thread.Cancel(cause(ctx)) })
	return thread, l, func() { stop() }
}

func (h *Host) print(_ *starlark.Thread, msg string) {
	if h.Out != nil {
		fmt.Fprintln(h.Out, msg)
	}
}

// cause says why ctx ended, for the cancellation message.
func cause(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}

func (h *Host) stdlib() fs.FS {
	if h.Stdlib != nil {
		return h.Stdlib
	}
	return stdlib.FS
}

// loader resolves and caches the modules of one run.
type loader struct {
	host  *Host
	root  string             // absolute directory every file load must stay inside
	cache map[string]*module // by key: absolute path or @stdlib//name
	stack []string           // keys being loaded, outermost first, for cycle errors
	names map[string]string  // display filename → key, so nested loads resolve relative to their file
}

// module is a cache entry; globals and err are set once loading ends.
type module struct {
	display string
	loading bool
	globals starlark.StringDict
	err     error
}

// load implements thread.Load: relative paths resolve against the loading
// file's directory, @stdlib// names against the embedded library.
func (l *loader) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	key, display, src, err := l.resolve(from, name)
	if err != nil {
		return nil, err
	}
	if m, ok := l.cache[key]; ok {
		if m.loading {
			return nil, l.cycleError(key)
		}
		return m.globals, m.err
	}
	m := l.enter(key, display)
	globals, err := starlark.ExecFileOptions(FileOptions(), thread, display, src, l.host.Predeclared)
	l.leave()
	m.loading, m.globals, m.err = false, globals, err
	return globals, err
}

// enter marks a module as being loaded.
func (l *loader) enter(key, display string) *module {
	m := &module{display: display, loading: true}
	l.cache[key] = m
	l.names[display] = key
	l.stack = append(l.stack, key)
	return m
}

// leave pops the innermost module being loaded.
func (l *loader) leave() { l.stack = l.stack[:len(l.stack)-1] }

// resolve finds the module a load names, relative to the loading file.
func (l *loader) resolve(from, name string) (key, display string, src []byte, err error) {
	fromKey := l.names[from]
	if strings.HasPrefix(name, StdlibPrefix) || strings.HasPrefix(fromKey, StdlibPrefix) && !strings.HasPrefix(name, "@") {
		return l.resolveStdlib(fromKey, name)
	}
	if strings.HasPrefix(name, "@") {
		return "", "", nil, fmt.Errorf("unknown repository in %q (only %sNAME.star is built in)", name, StdlibPrefix)
	}
	if filepath.IsAbs(name) {
		return "", "", nil, fmt.Errorf("absolute path %q: loads are relative to the loading file", name)
	}
	display = filepath.Join(filepath.Dir(from), name)
	abs, err := filepath.Abs(display)
	if err != nil {
		return "", "", nil, err
	}
	if !within(l.root, abs) {
		return "", "", nil, fmt.Errorf("%s is outside the script's directory %s (loads are confined to the script's directory tree)", display, relToCwd(l.root))
	}
	// A symlink inside the tree must not lead out of it either.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		realRoot, rerr := filepath.EvalSymlinks(l.root)
		if rerr == nil && !within(realRoot, real) {
			return "", "", nil, fmt.Errorf("%s links to %s, outside the script's directory %s", display, real, relToCwd(l.root))
		}
	}
	src, err = os.ReadFile(abs)
	if err != nil {
		return "", "", nil, fmt.Errorf("read %s: %w", display, errors.Unwrap(err))
	}
	return abs, display, src, nil
}

// resolveStdlib reads a module of the embedded library; a relative load
// from inside the library stays in the library.
func (l *loader) resolveStdlib(fromKey, name string) (key, display string, src []byte, err error) {
	var rel string
	if strings.HasPrefix(name, StdlibPrefix) {
		rel = strings.TrimPrefix(name, StdlibPrefix)
	} else {
		rel = path.Join(path.Dir(strings.TrimPrefix(fromKey, StdlibPrefix)), name)
	}
	if !fs.ValidPath(rel) || strings.HasPrefix(rel, "../") {
		return "", "", nil, fmt.Errorf("%q is not a module of the standard library", name)
	}
	src, err = fs.ReadFile(l.host.stdlib(), rel)
	if err != nil {
		return "", "", nil, fmt.Errorf("no module %q in the standard library (modules: %s)", rel, strings.Join(stdlibNames(l.host.stdlib()), ", "))
	}
	key = StdlibPrefix + rel
	return key, key, src, nil
}

// cycleError names every module of the cycle, in load order.
func (l *loader) cycleError(key string) error {
	var chain []string
	in := false
	for _, k := range l.stack {
		if k == key {
			in = true
		}
		if in {
			chain = append(chain, l.cache[k].display)
		}
	}
	chain = append(chain, l.cache[key].display)
	return fmt.Errorf("load cycle: %s", strings.Join(chain, " -> "))
}

func stdlibNames(fsys fs.FS) []string {
	var out []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".star") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// within reports whether path is dir or below it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// relToCwd shortens an absolute path for messages when it is below the
// working directory.
func relToCwd(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return p
}
