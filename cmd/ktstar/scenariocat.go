package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/starlib"
	"go.starlark.net/starlark"
)

// catalogModule is the scenario catalog's module; every fact the catalog
// command prints or checks comes from it.
const catalogModule = "@stdlib//catalog.star"

// catalog runs "ktstar catalog list" and "ktstar catalog run NAME".
func (c *cli) catalog(args []string) int {
	switch {
	case args[0] == "list" && len(args) == 1:
		return c.catalogList()
	case args[0] == "run" && len(args) == 2:
		// The run is a script of two lines, so --json, --scheduler,
		// --timeout and the summary treat it as any script.
		c.source = []byte(fmt.Sprintf("load(%q, \"run\")\nrun(%q, params)\n", catalogModule, args[1]))
		return c.run("catalog:" + args[1])
	}
	c.printError(fmt.Sprintf("ktstar catalog: want \"list\" or \"run NAME\", got %q (see ktstar --help)", args))
	return exitError
}

// catalogEntry is what catalog list prints of one entry.
type catalogEntry struct {
	name, family, doc, needs, flags string
}

// catalogEntries reads the entries of the catalog module.
func catalogEntries() ([]catalogEntry, error) {
	sess := starlib.NewSession(starlib.Options{CheckOnly: true})
	defer sess.Close()
	host := &engine.Host{Predeclared: sess.Predeclared()}
	globals, err := host.RunSource(context.Background(), "catalog list", []byte(fmt.Sprintf("load(%q, c = \"catalog\")\ncatalog = c\n", catalogModule)))
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
		str := func(attr string) string {
			v, err := e.Attr(attr)
			if err != nil || v == nil {
				return ""
			}
			if s, ok := starlark.AsString(v); ok {
				return s
			}
			var parts []string
			if l, ok := v.(*starlark.List); ok {
				for j := 0; j < l.Len(); j++ {
					s, _ := starlark.AsString(l.Index(j))
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, "+")
		}
		out = append(out, catalogEntry{name: str("name"), family: str("family"), doc: str("doc"), needs: str("needs_text"), flags: str("flags")})
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
		flags := e.flags
		if flags == "" {
			flags = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.name, e.family, e.needs, flags, e.doc)
	}
	tw.Flush()
	return exitOK
}
