package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/starlib"
	"go.starlark.net/starlark"
)

// catalogModule is the scenario catalog's module; every fact the catalog
// command prints or checks comes from it.
const catalogModule = "@stdlib//catalog.star"

// catalog runs "ktstar catalog list", "catalog show NAME" and "catalog run NAME".
func (c *cli) catalog(args []string) int {
	switch {
	case args[0] == "list" && len(args) == 1:
		return c.catalogList()
	case args[0] == "show" && len(args) == 2:
		return c.catalogShow(args[1])
	case args[0] == "run" && len(args) == 2:
		// The run is a script of two lines, so --json, --scheduler,
		// --timeout and the summary treat it as any script.
		c.source = []byte(gauntlet.CatalogScript(args[1]))
		return c.run("catalog:" + args[1])
	}
	c.printError(fmt.Sprintf("ktstar catalog: want \"list\", \"show NAME\" or \"run NAME\", got %q (see ktstar --help)", args))
	return exitError
}

// catalogEntry is one entry of the catalog module as Go sees it: what
// catalog list prints, and what a matrix of runs needs to choose cells
// (the topology it needs, ktstr's required and excluded flags).
type catalogEntry struct {
	name, family, doc string
	needsText         string // needs in words ("2 LLCs, cpusets"; "any")
	needs             catalogNeeds
	flags, excluded   []string
}

// catalogNeeds are an entry's minimums; zero is no need.
type catalogNeeds struct {
	cpus, llcs, nodes int
	cpusets           bool
}

// catalogEval runs src, which loads from the catalog module, in a
// session that acts on nothing, and returns its globals.
func catalogEval(name, src string) (starlark.StringDict, error) {
	sess := starlib.NewSession(starlib.Options{CheckOnly: true})
	defer sess.Close()
	host := &engine.Host{Predeclared: sess.Predeclared()}
	return host.RunSource(context.Background(), name, []byte(src))
}

// catalogEntries reads the entries of the catalog module.
func catalogEntries() ([]catalogEntry, error) {
	globals, err := catalogEval("catalog list", fmt.Sprintf("load(%q, c = \"catalog\")\ncatalog = c\n", catalogModule))
	if err != nil {
		return nil, err
	}
	list, ok := globals["catalog"].(*starlark.List)
	if !ok {
		return nil, fmt.Errorf("%s: catalog is %v, want a list", catalogModule, globals["catalog"])
	}
	var out []catalogEntry
	for i := 0; i < list.Len(); i++ {
		e, ok := list.Index(i).(starlark.HasAttrs)
		if !ok {
			return nil, fmt.Errorf("%s: catalog[%d] is a %s, want a struct", catalogModule, i, list.Index(i).Type())
		}
		attr := func(name string) starlark.Value {
			v, err := e.Attr(name)
			if err != nil || v == nil {
				return starlark.None
			}
			return v
		}
		str := func(name string) string {
			s, _ := starlark.AsString(attr(name))
			return s
		}
		strs := func(name string) []string {
			var out []string
			if l, ok := attr(name).(*starlark.List); ok {
				for j := 0; j < l.Len(); j++ {
					s, _ := starlark.AsString(l.Index(j))
					out = append(out, s)
				}
			}
			return out
		}
		var n catalogNeeds
		if d, ok := attr("needs").(*starlark.Dict); ok {
			num := func(k string) int {
				v, _, _ := d.Get(starlark.String(k))
				i, _ := starlark.AsInt32(v)
				return i
			}
			n.cpus, n.llcs, n.nodes = num("cpus"), num("llcs"), num("nodes")
			v, _, _ := d.Get(starlark.String("cpusets"))
			n.cpusets = v == starlark.True
		}
		out = append(out, catalogEntry{name: str("name"), family: str("family"), doc: str("doc"), needsText: str("needs_text"),
			needs: n, flags: strs("flags"), excluded: strs("excluded")})
	}
	return out, nil
}

// catalogList prints one line per catalog entry: its name, family, the
// topology it needs, the scheduler flags ktstr runs it under and what it
// does.
func (c *cli) catalogList() int {
	entries, err := catalogEntries()
	if err != nil {
		c.printError("ktstar catalog list: " + err.Error())
		return exitError
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAMILY\tNEEDS\tFLAGS\tDESCRIPTION")
	for _, e := range entries {
		flags := strings.Join(e.flags, "+")
		if flags == "" {
			flags = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.name, e.family, e.needsText, flags, e.doc)
	}
	tw.Flush()
	return exitOK
}

// catalogShow prints one entry: its line of the list, then every
// parameter --set takes with its kind, default, range and meaning.
func (c *cli) catalogShow(name string) int {
	globals, err := catalogEval("catalog show "+name, fmt.Sprintf("load(%q, \"find\", \"param_specs\")\nentry = find(%q)\nspecs = param_specs(%q)\n", catalogModule, name, name))
	if err != nil {
		c.printError("ktstar catalog show: " + err.Error())
		return exitError
	}
	e, _ := globals["entry"].(starlark.HasAttrs)
	specs, _ := globals["specs"].(*starlark.Dict)
	if e == nil || specs == nil {
		c.printError(fmt.Sprintf("ktstar catalog show: %s: the catalog module gave no entry or parameters", name))
		return exitError
	}
	attr := func(v starlark.HasAttrs, name string) string {
		x, err := v.Attr(name)
		if err != nil || x == nil {
			return ""
		}
		if s, ok := starlark.AsString(x); ok {
			return s
		}
		return x.String()
	}
	fmt.Fprintf(c.stdout, "%s (%s): %s\n  needs: %s\n  parameters (--set KEY=VALUE):\n", name, attr(e, "family"), attr(e, "doc"), attr(e, "needs_text"))
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tKIND\tDEFAULT\tALLOWED\tDESCRIPTION")
	for _, item := range specs.Items() {
		key, _ := starlark.AsString(item[0])
		spec, ok := item[1].(starlark.HasAttrs)
		if !ok {
			continue
		}
		allowed := attr(spec, "min") + " to " + attr(spec, "max")
		if attr(spec, "kind") == "bool" {
			allowed = "true or false"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", key, attr(spec, "kind"), attr(spec, "default"), allowed, attr(spec, "doc"))
	}
	tw.Flush()
	return exitOK
}
