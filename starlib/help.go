package starlib

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// GroupSize describes the grouping of a work type at its default
// parameters: the workers per group, or "-".
func GroupSize(t *workload.Type) string {
	w, err := workload.NewWork(t.Name, nil)
	if err != nil || w.GroupSize() == 0 {
		return "-"
	}
	return fmt.Sprint(w.GroupSize())
}

// WriteTypeDoc writes a work type's documentation from the catalog: its
// summary, group size, default value (or what it requires) and every
// parameter with kind, default, allowed range and description. It is the
// text of `ktstar doc NAME` and of help(work.NAME) in the REPL.
func WriteTypeDoc(w io.Writer, t *workload.Type) {
	fmt.Fprintf(w, "%s (work.%s)\n  %s\n", t.Form(), t.Ctor, t.Doc)
	fmt.Fprintf(w, "  group size: %s\n", GroupSize(t))
	if t.NotAsThread != "" {
		fmt.Fprintf(w, "  threads:    no (clone_mode = \"thread\", pcomm): %s\n", t.NotAsThread)
	} else {
		fmt.Fprintln(w, "  threads:    yes (clone_mode = \"thread\", pcomm)")
	}
	switch {
	case t.Sample != "":
		fmt.Fprintf(w, "  samples:    %s (%s)\n", t.Sample, t.Sample.Doc())
	case t.TimerSamples:
		fmt.Fprintf(w, "  samples:    timer, in timer_latencies_ns: an %s (%s)\n", workload.SampleOversleep, workload.SampleOversleep.Doc())
	default:
		fmt.Fprintln(w, "  samples:    none")
	}
	// Sequence and Custom have no usable defaults: say what they need.
	if v, err := workload.NewWork(t.Name, nil); err == nil {
		fmt.Fprintf(w, "  default:    %s\n", v)
	} else {
		fmt.Fprintf(w, "  required:   %s\n", strings.TrimPrefix(err.Error(), t.Ctor+": "))
	}
	if len(t.Params) == 0 {
		fmt.Fprintln(w, "  parameters: none")
		return
	}
	fmt.Fprintln(w, "  parameters:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tKIND\tDEFAULT\tALLOWED\tDESCRIPTION")
	for _, p := range t.Params {
		desc := p.Doc
		if len(p.Aliases) > 0 {
			desc += " (also: " + strings.Join(p.Aliases, ", ") + ")"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.Format(p.Default), p.Range(), desc)
	}
	tw.Flush()
	if slices.ContainsFunc(t.Params, func(p workload.Param) bool { return p.Kind == workload.KindPhases }) {
		fmt.Fprintln(w, "  phases:")
		for _, k := range workload.PhaseKinds() {
			args := "duration"
			if k.Width != nil {
				args += fmt.Sprintf(", %s = %s", k.Width.Name, k.Width.Format(k.Width.Default))
			}
			fmt.Fprintf(tw, "    phase.%s(%s)\t%s\n", k.Ctor, args, k.Doc)
		}
		tw.Flush()
	}
}

// builtinDocs are the signatures of the top-level builtins, as their
// implementations' doc comments give them.
var builtinDocs = map[string]string{
	"workload": "def workload(workers, work = work.spin_wait(), affinity = affinity.inherit(), policy = sched.normal(), nice = None, comm = \"\", warmup = \"0s\") -> workload\n" +
		"    a spawn request, validated when made (help(work.X) for a work type's parameters)",
	"spawn": "def spawn(cfg, cgroup = None) -> handle\n" +
		"    start cfg.workers workers, parked until start(); the handle has pids, start(), snapshot(),\n" +
		"    set_affinity(i, cpus), stop() -> one report dict per worker, kill()",
	"sleep": "def sleep(d)\n    pause for d, a time duration or a string like \"50ms\" (live progress on a terminal)",
	"fail":  "def fail(*args, sep = \" \")\n    stop the script with exit status 1 and the message made of args",
}

// memberSummary describes attribute n of h in a few words: a work
// constructor by its type's summary, a function as such, a value by its
// type.
func memberSummary(h starlark.HasAttrs, n string) string {
	a, err := h.Attr(n)
	if err != nil || a == nil {
		return "?"
	}
	if b, ok := a.(*starlark.Builtin); ok {
		if t, ok := workload.Find(b.Name()); ok && Work.Members[t.Ctor] == b {
			return t.Doc
		}
		return "function (help(x) of a work constructor shows its parameters)"
	}
	return a.Type()
}

// Help returns the text help(v) prints in the REPL: for a work
// constructor (work.bursty) or a work value, its type's documentation as
// `ktstar doc` prints it; for a module or any other value with
// attributes, its members; otherwise its type and value.
func Help(v starlark.Value) string {
	var b strings.Builder
	switch x := v.(type) {
	case *starlark.Builtin:
		if t, ok := workload.Find(x.Name()); ok && Work.Members[t.Ctor] == x {
			WriteTypeDoc(&b, t)
			return b.String()
		}
		if doc, ok := builtinDocs[x.Name()]; ok && x.Receiver() == nil {
			return doc + "\n"
		}
		if starlark.Universe[x.Name()] == x {
			fmt.Fprintf(&b, "%s: a Starlark built-in function (the Starlark language spec describes it)\n", x.Name())
			return b.String()
		}
		fmt.Fprintf(&b, "%s: a builtin function (the README's tables say what each takes)\n", x.Name())
		return b.String()
	case WorkValue:
		WriteTypeDoc(&b, x.W.Type())
		return b.String()
	}
	if h, ok := v.(starlark.HasAttrs); ok {
		names := slices.Clone(h.AttrNames())
		slices.Sort(names)
		fmt.Fprintf(&b, "%s (%s) has:\n", v, v.Type())
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, n := range names {
			fmt.Fprintf(tw, "  %s\t%s\n", n, memberSummary(h, n))
		}
		tw.Flush()
		return b.String()
	}
	fmt.Fprintf(&b, "%s: a %s\n", v, v.Type())
	return b.String()
}
