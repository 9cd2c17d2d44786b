package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ktstar/ktstar/workload"
)

// list prints every work type of the catalog: name (or, for a type the
// user names, its form such as Custom(name)), constructor, group size and
// its one-line description.
func (c *cli) list() int {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCONSTRUCTOR\tGROUP\tDESCRIPTION")
	for _, t := range workload.Types() {
		fmt.Fprintf(tw, "%s\twork.%s\t%s\t%s\n", t.Form(), t.Ctor, groupSize(t), t.Doc)
	}
	tw.Flush()
	return exitOK
}

// groupSize describes the grouping of a type at its default parameters.
func groupSize(t *workload.Type) string {
	w, err := workload.NewWork(t.Name, nil)
	if err != nil || w.GroupSize() == 0 {
		return "-"
	}
	return fmt.Sprint(w.GroupSize())
}

// doc prints one work type's parameters with kinds, defaults and ranges.
// NAME is the PascalCase name or the constructor name.
func (c *cli) doc(name string) int {
	var t *workload.Type
	for _, cand := range workload.Types() {
		if cand.Name == name || cand.Ctor == name || "work."+cand.Ctor == name {
			t = cand
		}
	}
	if t == nil {
		_, err := workload.NewWork(name, nil) // the catalog's error, with a suggestion
		c.printError("ktstar doc: " + err.Error())
		return exitError
	}
	fmt.Fprintf(c.stdout, "%s (work.%s)\n  %s\n", t.Form(), t.Ctor, t.Doc)
	fmt.Fprintf(c.stdout, "  group size: %s\n", groupSize(t))
	// Sequence and Custom have no usable defaults: say what they need.
	if w, err := workload.NewWork(t.Name, nil); err == nil {
		fmt.Fprintf(c.stdout, "  default:    %s\n", w)
	} else {
		fmt.Fprintf(c.stdout, "  required:   %s\n", strings.TrimPrefix(err.Error(), t.Ctor+": "))
	}
	if len(t.Params) == 0 {
		fmt.Fprintln(c.stdout, "  parameters: none")
		return exitOK
	}
	fmt.Fprintln(c.stdout, "  parameters:")
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tKIND\tDEFAULT\tALLOWED\tDESCRIPTION")
	for _, p := range t.Params {
		desc := p.Doc
		if len(p.Aliases) > 0 {
			desc += " (also: " + strings.Join(p.Aliases, ", ") + ")"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.Format(p.Default), p.Range(), desc)
	}
	tw.Flush()
	return exitOK
}
