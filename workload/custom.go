package workload

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CustomFunc is a user-supplied work loop, the Go counterpart of ktstr's
// Custom function pointer. It runs in the worker process after the usual
// prologue (affinity, policy, nice, comm) and the start gate, owns the
// loop, and should return soon after w.Stopped() turns true. Inside it,
// use w's helpers: SpinBurst, Yield, Sleep, AddUnits, Tick (end of one
// iteration: counts it, publishes progress, runs the gap and migration
// checkpoint), WakeSample, Count and Work().Text("arg").
//
// The returned map adds report fields: "work_units" and "iterations"
// replace those fields, other integer values become counters, anything
// else goes to Report.Extra. An error (or a panic) turns the report into
// one with Completed false and ExitInfo{Kind: "failed", Error: text}; the
// other workers and the run go on.
type CustomFunc func(w *Worker) (map[string]any, error)

// customRegistry maps names to functions. Workers are re-executed
// processes, so a function crosses the process boundary by name: the
// worker looks it up in its own copy of the registry.
var customRegistry = struct {
	sync.Mutex
	fns map[string]CustomFunc
}{fns: map[string]CustomFunc{}}

// Register makes fn available to Custom work under name. Call it before
// Init (from an init function or first thing in main), so that the
// re-executed worker has it registered too. It panics on an empty or
// duplicate name, which is a programming error.
//
// A script engine plugs in the same way: it registers one generic runner
// (say "starlark") that reads Work().Text("arg") — e.g. a module path and
// a function name — loads that module in the worker and calls the
// function with a context built on w; each script-level custom work is
// then Custom{name: the user's label, fn: "starlark", arg: …}.
func Register(name string, fn CustomFunc) {
	if name == "" || fn == nil {
		panic("workload.Register: empty name or nil function")
	}
	customRegistry.Lock()
	defer customRegistry.Unlock()
	if _, dup := customRegistry.fns[name]; dup {
		panic(fmt.Sprintf("workload.Register: %q registered twice", name))
	}
	customRegistry.fns[name] = fn
}

// lookupCustom finds a registered function; the error lists what exists.
func lookupCustom(name string) (CustomFunc, error) {
	customRegistry.Lock()
	defer customRegistry.Unlock()
	if fn, ok := customRegistry.fns[name]; ok {
		return fn, nil
	}
	names := make([]string, 0, len(customRegistry.fns))
	for n := range customRegistry.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	return nil, fmt.Errorf("no function registered as %q (registered: %s); a script passes a function defined at the top level of a loaded module instead of a name, a Go program registers one with workload.Register before workload.Init",
		name, strings.Join(names, ", "))
}

// customTypes holds Custom, whose name comes from the user.
var customTypes = []Type{{
	Name: "Custom", Ctor: "custom", NamedBy: "name",
	Doc:     "A user-supplied loop: in scripts work.custom(name, fn) with fn defined at the top level of a load()ed module; in Go a function registered with workload.Register.",
	Example: map[string]any{"name": "example"},
	Params: []Param{
		{Name: "name", Kind: KindString, Default: "", Doc: "the work's name; also the registered function unless fn is set"},
		{Name: "fn", Kind: KindString, Default: "", Doc: "registered function to run (default: name); in scripts also a Starlark function, called as fn(ctx)"},
		{Name: "arg", Kind: KindString, Default: "", Doc: "opaque argument for the function, e.g. a runner's module and function"},
	},
	Validate: func(w Work) error {
		if w.Text("name") == "" {
			return errors.New(`name = "": a custom work needs a name`)
		}
		return nil
	},
	Preflight: func(w Work) error {
		_, err := lookupCustom(customFn(w))
		return err
	},
	Sample: SampleChosen,
	New: func(w *Worker) (Body, error) {
		fn, err := lookupCustom(customFn(w.work))
		if err != nil {
			return nil, err
		}
		return &customBody{w: w, fn: fn}, nil
	},
}}

func customFn(w Work) string {
	if fn := w.Text("fn"); fn != "" {
		return fn
	}
	return w.Text("name")
}

type customBody struct {
	w      *Worker
	fn     CustomFunc
	fields map[string]any
	err    error
}

// Step calls the function once; it owns the loop.
func (b *customBody) Step() bool {
	defer func() {
		if p := recover(); p != nil {
			b.err = fmt.Errorf("panic: %v", p)
		}
	}()
	b.fields, b.err = b.fn(b.w)
	return false
}

// Finish merges the returned fields into the report, or turns it into a
// failure report carrying the error.
func (b *customBody) Finish(r *Report) {
	if b.err != nil {
		r.Completed = false
		r.ExitInfo = &ExitInfo{Kind: ExitFailed, Error: b.err.Error()}
	}
	for k, v := range b.fields {
		n, isInt := asUint64(v)
		switch {
		case k == "work_units" && isInt:
			r.WorkUnits = n
		case k == "iterations" && isInt:
			r.Iterations = n
		case isInt:
			r.Counters[k] = n
		default:
			if r.Extra == nil {
				r.Extra = map[string]any{}
			}
			r.Extra[k] = encodable(v)
		}
	}
}

// encodable returns v, or for a NaN or infinite float its name ("NaN",
// "+Inf", "-Inf"): JSON has no such numbers, and one of them would lose
// the whole report.
func encodable(v any) any {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		return v
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v
}

// asUint64 converts a non-negative Go integer to uint64.
func asUint64(v any) (uint64, bool) {
	switch n := v.(type) {
	case int:
		return uint64(n), n >= 0
	case int32:
		return uint64(n), n >= 0
	case int64:
		return uint64(n), n >= 0
	case uint:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	}
	return 0, false
}

// Yield calls sched_yield and returns how long it took, in ns.
func (w *Worker) Yield() int64 {
	t0 := nanotime()
	schedYield()
	return nanotime() - t0
}

// Sleep sleeps for d (resuming after interruptions) and returns the
// observed time in ns.
func (w *Worker) Sleep(d time.Duration) int64 {
	t0 := nanotime()
	sleepFull(d)
	return nanotime() - t0
}

// Tick ends one iteration of a Custom loop: it counts the iteration,
// publishes progress and runs the gap/migration checkpoint, as the
// framework does after each Step of a built-in type.
func (w *Worker) Tick() { w.tail() }

// Label returns the name the user gave the work (Custom's name
// parameter), or the type name for every other type.
func (w Work) Label() string {
	if t := w.Type(); t.NamedBy != "" {
		if v, ok := w.Arg(t.NamedBy); ok && v.(string) != "" {
			return v.(string)
		}
	}
	return w.Name()
}

// Form returns how listings show a work type: its name, or for a type
// named by the user, the form with that parameter, e.g. "Custom(name)".
func (t *Type) Form() string {
	if t.NamedBy != "" {
		return t.Name + "(" + t.NamedBy + ")"
	}
	return t.Name
}
