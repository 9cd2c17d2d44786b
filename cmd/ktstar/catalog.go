package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/workload"
)

// list prints every work type of the catalog: name (or, for a type the
// user names, its form such as Custom(name)), constructor, group size and
// its one-line description.
func (c *cli) list() int {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCONSTRUCTOR\tGROUP\tDESCRIPTION")
	for _, t := range workload.Types() {
		fmt.Fprintf(tw, "%s\twork.%s\t%s\t%s\n", t.Form(), t.Ctor, starlib.GroupSize(t), t.Doc)
	}
	tw.Flush()
	return exitOK
}

// doc prints one work type's parameters with kinds, defaults and ranges
// (starlib.WriteTypeDoc). NAME is the type's or its constructor's name in
// any case, with or without underscores; without NAME, doc lists the types.
func (c *cli) doc(name string) int {
	t, ok := workload.Find(strings.TrimPrefix(name, "work."))
	if !ok {
		_, err := workload.NewWork(name, nil) // the catalog's error, with a suggestion
		c.printError("ktstar doc: " + err.Error())
		return exitError
	}
	starlib.WriteTypeDoc(c.stdout, t)
	return exitOK
}
