package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/gauntlet"
	"github.com/ktstar/ktstar/starlib"
	"github.com/ktstar/ktstar/vm"
)

// catalogFactsScript asks @stdlib//catalog.star, for each entry named,
// the scheduler flags it requires and excludes and, per preset (label,
// CPUs, LLCs, nodes), why a guest of that shape cannot run it.
const catalogFactsScript = `load("@stdlib//catalog.star", "find", "unmet")

def _facts(names, presets):
    out = {}
    for n in names:
        e = find(n)
        out[n] = {
            "requires": list(e.flags),
            "excludes": list(e.excluded),
            "unmet": {p[0]: unmet(n, p[1], p[2], p[3]) or "" for p in presets},
        }
    return json.encode(out)

facts = _facts(json.decode(%q), json.decode(%q))
`

// catalogFacts fills in the catalog entries among m's scenarios: the
// flags their profiles must have and lack, and unmet[scenario][preset],
// why a preset cannot run one (guests have the cpuset controller). An
// unknown name is the catalog's error, which lists the names.
func catalogFacts(m *gauntlet.Matrix) (unmet map[string]map[string]string, err error) {
	var names []string
	for _, s := range m.Scenarios {
		if s.Catalog != "" {
			names = append(names, s.Catalog)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	var presets [][]any
	for _, p := range m.Presets {
		presets = append(presets, []any{p.Label(), p.CPUs(), p.LLCs, p.Nodes})
	}
	nb, _ := json.Marshal(names)
	pb, _ := json.Marshal(presets)
	dir, err := os.MkdirTemp("", "ktstar-gauntlet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "catalog-facts.star")
	if err := os.WriteFile(path, fmt.Appendf(nil, catalogFactsScript, nb, pb), 0o644); err != nil {
		return nil, err
	}
	sess := starlib.NewSession(starlib.Options{CheckOnly: true})
	defer sess.Close()
	host := &engine.Host{Predeclared: sess.Predeclared()}
	globals, err := host.Run(context.Background(), path)
	if err != nil {
		return nil, fmt.Errorf("the catalog: %w", err)
	}
	s, _ := starlark.AsString(globals["facts"])
	var facts map[string]struct {
		Requires []string          `json:"requires"`
		Excludes []string          `json:"excludes"`
		Unmet    map[string]string `json:"unmet"`
	}
	if err := json.Unmarshal([]byte(s), &facts); err != nil {
		return nil, fmt.Errorf("the catalog's facts: %w", err)
	}
	unmet = map[string]map[string]string{}
	for i, sc := range m.Scenarios {
		if f, ok := facts[sc.Catalog]; ok && sc.Catalog != "" {
			m.Scenarios[i].Requires, m.Scenarios[i].Excludes = f.Requires, f.Excludes
			unmet[sc.Name] = f.Unmet
		}
	}
	return unmet, nil
}

// unmetFunc is a gauntlet.Guest's Unmet hook over catalogFacts' answer.
func unmetFunc(unmet map[string]map[string]string) func(gauntlet.Scenario, vm.Preset) string {
	if len(unmet) == 0 {
		return nil
	}
	return func(s gauntlet.Scenario, p vm.Preset) string { return unmet[s.Name][p.Label()] }
}
