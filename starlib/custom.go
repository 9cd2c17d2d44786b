package starlib

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// CustomRunner is the name under which [RegisterCustomRunner] registers
// the Starlark runner with workload.Register. work.custom(name, fn) with a
// Starlark function fn makes Custom{name, fn: CustomRunner, arg: "MODULE:FUNCTION"},
// MODULE being the absolute path of the module file that defines it.
const CustomRunner = "starlark"

// stopGrace is how long a Starlark custom function may run on after the
// worker is told to stop before its thread is cancelled: well inside the
// spawner's stop deadline, so a function that never checks ctx.stopped()
// ends with an error report that says so rather than a SIGKILL sentinel.
const stopGrace = time.Second

// ModuleRunner executes one module file in a worker process and returns
// its globals; print goes to out. engine.RunModule is the one ktstar uses.
type ModuleRunner func(ctx context.Context, path string, predeclared starlark.StringDict, out io.Writer) (starlark.StringDict, error)

// RegisterCustomRunner registers the runner of Starlark custom functions
// with workload.Register, the one registry of custom functions. Call it
// before workload.Init, first thing in main (and in a test binary's
// TestMain), so that the re-executed worker process has it too. run loads
// the function's module in the worker; render formats Starlark errors for
// the report's exit_info (engine.Render).
//
// In the worker the runner loads that module, and only it, with the same
// predeclared names as a script (spawn refuses to run there), then calls
// fn(ctx) once: the function owns the loop, and its returned dict adds
// report fields as a Go custom function's map does (workload.CustomFunc).
// An error, in the module or the function, becomes a report with
// completed = False and exit_info {kind: "failed", error: the text}; the
// run goes on.
func RegisterCustomRunner(run ModuleRunner, render func(error) string) {
	workload.Register(CustomRunner, func(w *workload.Worker) (map[string]any, error) {
		fields, err := runCustom(w, run)
		if err != nil {
			return nil, errors.New(render(err))
		}
		return fields, nil
	})
}

// workCustom implements
//
//	def custom(name, fn = None, arg = "") -> work
//
// fn is a Starlark function defined at the top level of a module file
// loaded with load(), or the name of a Go function registered with
// workload.Register (default: name), to which arg is passed.
func workCustom(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name string
		fn   starlark.Value = starlark.None
		arg  string
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "fn?", &fn, "arg?", &arg); err != nil {
		return nil, err
	}
	params := map[string]any{"name": name, "arg": arg}
	switch f := fn.(type) {
	case starlark.NoneType:
	case starlark.String:
		params["fn"] = string(f)
	case *starlark.Function:
		if arg != "" {
			return nil, fmt.Errorf("%s: arg = %q: a Starlark function takes no arg (its module and name are the runner's arg)", b.Name(), arg)
		}
		ref, err := functionRef(thread, f)
		if err != nil {
			return nil, fmt.Errorf("%s: fn: %w", b.Name(), err)
		}
		params["fn"], params["arg"] = CustomRunner, ref
	default:
		return nil, fmt.Errorf("%s: fn: want a function defined in a loaded module, or a registered function's name, got %s", b.Name(), fn.Type())
	}
	w, err := workload.NewWork("Custom", params)
	if err != nil {
		return nil, err
	}
	return WorkValue{W: w}, nil
}

// functionRef checks that fn can run in a worker process, which loads
// the module file that defines fn and looks fn up there by name, and
// returns the runner's arg for it: "MODULE:FUNCTION".
func functionRef(thread *starlark.Thread, fn *starlark.Function) (string, error) {
	file := fn.Position().Filename()
	switch {
	case fn.Name() == "lambda":
		return "", fmt.Errorf("a lambda cannot run in a worker, which finds the function by name in its module; define it with def at the top level of a module file and load() it")
	case fn.Globals()[fn.Name()] != starlark.Value(fn):
		return "", fmt.Errorf("%s (%s) is not defined at the top level of its module; a nested def or a closure cannot run in a worker, which loads the module and finds the function by name", fn.Name(), fn.Position())
	case file == mainFile(thread):
		return "", fmt.Errorf("%s is defined in the main script %s; a worker loads only the module that defines the function, never the script itself: move the def to a module file and load() it", fn.Name(), file)
	case strings.HasPrefix(file, "@"):
		return "", fmt.Errorf("%s is defined in %s; custom functions must come from a module file of the script's tree", fn.Name(), file)
	case fn.NumParams() == 0 && !fn.HasVarargs():
		return "", fmt.Errorf("%s takes no parameters; a custom function takes one, ctx", fn.Name())
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", file, err)
	}
	return abs + ":" + fn.Name(), nil
}

// mainFile is the file of the outermost frame: the script being run.
func mainFile(thread *starlark.Thread) string {
	return thread.CallFrame(thread.CallStackDepth() - 1).Pos.Filename()
}

// runCustom is the worker side: load the module, call the function, turn
// its dict into report fields.
func runCustom(w *workload.Worker, run ModuleRunner) (map[string]any, error) {
	// The worker turned the GC off for the allocation-free built-in
	// bodies; a Starlark function allocates on every call, so turn it on.
	debug.SetGCPercent(100)
	ref := w.Work().Text("arg")
	i := strings.LastIndexByte(ref, ':')
	if i < 0 {
		return nil, fmt.Errorf("arg = %q: want MODULE:FUNCTION", ref)
	}
	path, name := ref[:i], ref[i+1:]
	out := &prefixWriter{prefix: fmt.Sprintf("custom %s[%d]: ", w.Work().Label(), os.Getpid())}
	globals, err := run(context.Background(), path, workerPredeclared(w), out)
	if err != nil {
		return nil, err
	}
	fn, ok := globals[name].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("module %s has no function %s", path, name)
	}
	thread := &starlark.Thread{Name: "custom " + w.Work().Label(), Print: func(_ *starlark.Thread, msg string) { out.Write([]byte(msg + "\n")) }}
	done := make(chan struct{})
	defer close(done)
	go cancelAfterStop(w, thread, done)
	v, err := starlark.Call(thread, fn, starlark.Tuple{newCustomCtx(w)}, nil)
	if err != nil {
		return nil, err
	}
	return reportFields(name, v)
}

// cancelAfterStop cancels the function's thread stopGrace after the
// worker is told to stop, unless the function returned (done) first.
func cancelAfterStop(w *workload.Worker, thread *starlark.Thread, done <-chan struct{}) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !w.Stopped() {
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
	select {
	case <-done:
	case <-time.After(stopGrace):
		thread.Cancel(fmt.Sprintf("still running %v after stop; the function's loop must end when ctx.stopped() is True", stopGrace))
	}
}

// workerPredeclared is what the module sees in the worker: a script's
// names, except that whatever makes workers or cgroups refuses (spawn,
// cgroup.create, scheduler: a worker doing so would escape the run's
// accounting and cleanup) and sleep ends early when the worker
// is told to stop. Keeping the names lets modules whose other functions
// use them still resolve.
func workerPredeclared(w *workload.Worker) starlark.StringDict {
	pre := NewSession(Options{}).Predeclared()
	for _, name := range []string{"spawn", "scheduler"} {
		if _, ok := pre[name]; ok {
			pre[name] = refusedInWorker(name)
		}
	}
	for _, mod := range []struct {
		name    string
		refused func(member string) bool
	}{
		{"cgroup", func(m string) bool { return m == "create" }},
	} {
		m, ok := pre[mod.name].(*starlarkstruct.Module)
		if !ok {
			continue
		}
		members := starlark.StringDict{}
		for k, v := range m.Members {
			if _, isFn := v.(*starlark.Builtin); isFn && mod.refused(k) {
				v = refusedInWorker(mod.name + "." + k)
			}
			members[k] = v
		}
		pre[mod.name] = &starlarkstruct.Module{Name: m.Name, Members: members}
	}
	pre["sleep"] = starlark.NewBuiltin("sleep", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var d durationParam
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "d", &d); err != nil {
			return nil, err
		}
		sleepUnlessStopped(w, time.Duration(d))
		return starlark.None, nil
	})
	return pre
}

// refusedInWorker is a builtin that fails saying why it cannot run inside
// a custom work function.
func refusedInWorker(name string) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(_ *starlark.Thread, b *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return nil, fmt.Errorf("%s: not available inside a custom work function: a worker must not make workers or cgroups outside the run, which could not stop, collect or remove them", name)
	})
}

// reportFields converts the function's return value: None, or a dict of
// str keys to int, float, bool or str values.
func reportFields(fn string, v starlark.Value) (map[string]any, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s returned %s; want a dict of report fields or None", fn, v.Type())
	}
	out := make(map[string]any, d.Len())
	for _, kv := range d.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s returned a dict with key %s of type %s; want str keys", fn, kv[0], kv[0].Type())
		}
		switch x := kv[1].(type) {
		case starlark.Int:
			if n, ok := x.Int64(); ok {
				out[string(k)] = n
			} else if u, ok := x.Uint64(); ok {
				out[string(k)] = u
			} else {
				return nil, fmt.Errorf("%s returned %s = %s, which does not fit in 64 bits", fn, k, x)
			}
		case starlark.Float:
			out[string(k)] = float64(x)
		case starlark.Bool:
			out[string(k)] = bool(x)
		case starlark.String:
			out[string(k)] = string(x)
		default:
			return nil, fmt.Errorf("%s returned %s = %s of type %s; want int, float, bool or str", fn, k, x, x.Type())
		}
	}
	return out, nil
}

// newCustomCtx is the ctx argument of a custom function:
//
//	ctx.name              the work's name (custom's first argument)
//	ctx.pos               the worker's index in its spawn
//	ctx.stopped()         True once the worker is told to stop: end the loop
//	ctx.spin(n = 1024)    n spin steps, adding n work units
//	ctx.sched_yield()     sched_yield; returns its ns, recorded as a sample
//	                      of kind "yield"
//	ctx.sleep(d)          sleep d (a duration or "5ms"), cut short by stop;
//	                      returns the ns slept; the time beyond d is recorded
//	                      as a sample of kind "oversleep" (none when cut short)
//	ctx.count(name, n = 1)  add n to the report counter name
//	ctx.add_units(n)      add n work units without doing work
//	ctx.wake_sample(ns, kind = "wake-to-run")
//	                      record a sample of ns of the given kind (one of
//	                      workload.SampleKinds); a worker whose samples have
//	                      more than one kind reports "mixed"
//	ctx.now()             CLOCK_MONOTONIC in ns
//	ctx.tick()            end one iteration: counts it, publishes progress
//	                      and runs the gap and migration checkpoint
func newCustomCtx(w *workload.Worker) starlark.Value {
	fn := func(name string, impl func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin("ctx."+name, func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return impl(args, kwargs)
		})
	}
	unpack := func(name string, args starlark.Tuple, kwargs []starlark.Tuple, pairs ...any) error {
		return starlark.UnpackArgs("ctx."+name, args, kwargs, pairs...)
	}
	return &starlarkstruct.Module{Name: "ctx", Members: starlark.StringDict{
		"name": starlark.String(w.Work().Label()),
		"pos":  starlark.MakeInt(w.Pos()),
		"stopped": fn("stopped", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := unpack("stopped", args, kwargs); err != nil {
				return nil, err
			}
			return starlark.Bool(w.Stopped()), nil
		}),
		"spin": fn("spin", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			n := 1024
			if err := unpack("spin", args, kwargs, "n?", &n); err != nil {
				return nil, err
			}
			if n < 1 || n > 1<<24 {
				return nil, fmt.Errorf("ctx.spin: n = %d is out of range (allowed: 1..16777216)", n)
			}
			w.SpinBurst(uint64(n))
			return starlark.None, nil
		}),
		"sched_yield": fn("sched_yield", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := unpack("sched_yield", args, kwargs); err != nil {
				return nil, err
			}
			ns := w.Yield()
			w.Sample(workload.SampleYield, ns)
			return starlark.MakeInt64(ns), nil
		}),
		"sleep": fn("sleep", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var d durationParam
			if err := unpack("sleep", args, kwargs, "d", &d); err != nil {
				return nil, err
			}
			dur := time.Duration(d)
			ns := sleepUnlessStopped(w, dur)
			if over := ns - int64(dur); over >= 0 {
				w.Sample(workload.SampleOversleep, over)
			}
			w.ResetGap()
			return starlark.MakeInt64(ns), nil
		}),
		"count": fn("count", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name string
			n := 1
			if err := unpack("count", args, kwargs, "name", &name, "n?", &n); err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, fmt.Errorf("ctx.count: n = %d is out of range (allowed: 0 or more)", n)
			}
			w.Count(name, uint64(n))
			return starlark.None, nil
		}),
		"add_units": fn("add_units", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var n int
			if err := unpack("add_units", args, kwargs, "n", &n); err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, fmt.Errorf("ctx.add_units: n = %d is out of range (allowed: 0 or more)", n)
			}
			w.AddUnits(uint64(n))
			return starlark.None, nil
		}),
		"wake_sample": fn("wake_sample", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var ns int64
			kind := string(workload.SampleWake)
			if err := unpack("wake_sample", args, kwargs, "ns", &ns, "kind?", &kind); err != nil {
				return nil, err
			}
			if !slices.Contains(workload.SampleKinds(), workload.SampleKind(kind)) {
				return nil, fmt.Errorf("ctx.wake_sample: kind = %q is not a sample kind (allowed: %s)", kind, sampleKindList())
			}
			w.Sample(workload.SampleKind(kind), ns)
			return starlark.None, nil
		}),
		"now": fn("now", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := unpack("now", args, kwargs); err != nil {
				return nil, err
			}
			return starlark.MakeInt64(w.Now()), nil
		}),
		"tick": fn("tick", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := unpack("tick", args, kwargs); err != nil {
				return nil, err
			}
			w.Tick()
			return starlark.None, nil
		}),
	}}
}

// sampleKindList names the kinds ctx.wake_sample accepts, for its error.
func sampleKindList() string {
	var b strings.Builder
	for i, k := range workload.SampleKinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", string(k))
	}
	return b.String()
}

// sleepUnlessStopped sleeps d in slices of at most 100 ms, the bound every
// wait in a worker keeps, and returns early once the worker is stopped.
func sleepUnlessStopped(w *workload.Worker, d time.Duration) int64 {
	t0 := w.Now()
	for end := t0 + int64(d); !w.Stopped(); {
		left := end - w.Now()
		if left <= 0 {
			break
		}
		w.Sleep(time.Duration(min(left, int64(100*time.Millisecond))))
	}
	return w.Now() - t0
}

// prefixWriter writes each print of the function to stderr after a prefix
// naming the work and the worker, since workers share ktstar's stderr.
type prefixWriter struct{ prefix string }

func (p *prefixWriter) Write(b []byte) (int, error) {
	os.Stderr.Write([]byte(p.prefix + strings.TrimSuffix(string(b), "\n") + "\n"))
	return len(b), nil
}
