package gauntlet

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ktstar/ktstar/vm"
)

// Scenario is one row of the matrix: a script on the host, or an entry
// of @stdlib//catalog.star run by name.
type Scenario struct {
	Name    string // the label cells and the summary use
	Script  string // host path of a .star file; "" for a catalog entry
	Catalog string // the catalog entry's name; "" for a script
	// Requires and Excludes are scheduler flags (ktstr's required_flags
	// and excluded_flags): the scenario runs only under the profiles that
	// have every flag of Requires on and none of Excludes.
	Requires, Excludes []string
}

// Runs reports whether the scenario runs under profile p.
func (s Scenario) Runs(p Profile) bool {
	for _, f := range s.Requires {
		if !slices.Contains(p.Flags, f) {
			return false
		}
	}
	for _, f := range s.Excludes {
		if slices.Contains(p.Flags, f) {
			return false
		}
	}
	return true
}

// ParseScenario reads a command-line scenario: a path (it ends in .star
// or holds a slash) is a script labelled by its file name without .star;
// anything else names a catalog entry.
func ParseScenario(arg string) (Scenario, error) {
	if strings.HasSuffix(arg, ".star") || strings.Contains(arg, "/") {
		name := strings.TrimSuffix(filepath.Base(arg), ".star")
		if !labelRE.MatchString(name) {
			return Scenario{}, fmt.Errorf("scenario %q: the file name %q is not a label (letters, digits, . _ + -)", arg, name)
		}
		return Scenario{Name: name, Script: arg}, nil
	}
	if !labelRE.MatchString(arg) {
		return Scenario{}, fmt.Errorf("scenario %q: want a SCRIPT.star or a catalog entry's name", arg)
	}
	return Scenario{Name: arg, Catalog: arg}, nil
}

// Kernel is one kernel the matrix boots.
type Kernel struct {
	Label string // "default" for Debian's cloud kernel
	Path  string // a bzImage; "" for the default kernel
}

// DefaultKernel is the label of the cells that boot vm's default kernel.
const DefaultKernel = "default"

// ParseKernel reads --kernel: PATH or LABEL=PATH. Without a label, a
// file called bzImage or vmlinuz* is labelled by its directory, any
// other by its own name.
func ParseKernel(arg string) (Kernel, error) {
	label, path, ok := strings.Cut(arg, "=")
	if !ok {
		path = arg
		label = filepath.Base(path)
		if label == "bzImage" || strings.HasPrefix(label, "vmlinuz") {
			label = filepath.Base(filepath.Dir(path))
		}
		label = strings.Map(func(r rune) rune {
			if strings.ContainsRune("._+-", r) || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
				return r
			}
			return '_'
		}, label)
	}
	if path == "" || !labelRE.MatchString(label) || label == DefaultKernel {
		return Kernel{}, fmt.Errorf("--kernel %q: want PATH or LABEL=PATH, LABEL of letters, digits, . _ + - and not %q", arg, DefaultKernel)
	}
	return Kernel{Label: label, Path: path}, nil
}

// Flag is a scheduler flag the profiles turn on and off, as ktstr's
// FlagDecl: the arguments it adds and the flags it needs.
type Flag struct {
	Name     string
	Args     []string // added to the scheduler's arguments when on
	Requires []string // flags that must be on with it
}

// Profile is one combination of flags: its name (the flags joined with
// "+", or "default" with none) and the scheduler arguments they add.
type Profile struct {
	Name  string
	Flags []string
	Args  []string
}

// DefaultProfile names the profile with no flag on (and the cells of a
// matrix without a scheduler).
const DefaultProfile = "default"

// Profiles expands flags into every valid combination, as ktstr's
// gauntlet does: each subset in which every flag's requirements are on
// too, the empty one first, flags named in the order given.
func Profiles(flags []Flag) ([]Profile, error) {
	idx := map[string]int{}
	for i, f := range flags {
		if !labelRE.MatchString(f.Name) || strings.Contains(f.Name, "+") || f.Name == DefaultProfile {
			return nil, fmt.Errorf("flag %q: want letters, digits, . _ - (not + or %q)", f.Name, DefaultProfile)
		}
		if _, dup := idx[f.Name]; dup {
			return nil, fmt.Errorf("flag %q given twice", f.Name)
		}
		idx[f.Name] = i
	}
	for _, f := range flags {
		for _, r := range f.Requires {
			if _, ok := idx[r]; !ok || r == f.Name {
				return nil, fmt.Errorf("flag %s requires %q, which is not another flag (flags: %s)", f.Name, r, strings.Join(flagNames(flags), ", "))
			}
		}
	}
	if len(flags) > maxFlags {
		return nil, fmt.Errorf("%d flags: want at most %d (2^%d profiles)", len(flags), maxFlags, maxFlags)
	}
	var out []Profile
	for mask := 0; mask < 1<<len(flags); mask++ {
		ok := true
		var p Profile
		for i, f := range flags {
			if mask&(1<<i) == 0 {
				continue
			}
			for _, r := range f.Requires {
				ok = ok && mask&(1<<idx[r]) != 0
			}
			p.Flags = append(p.Flags, f.Name)
			p.Args = append(p.Args, f.Args...)
		}
		if !ok {
			continue
		}
		p.Name = strings.Join(p.Flags, "+")
		if p.Name == "" {
			p.Name = DefaultProfile
		}
		out = append(out, p)
	}
	// By number of flags, then in mask order: default, each flag alone, …
	slices.SortStableFunc(out, func(a, b Profile) int { return len(a.Flags) - len(b.Flags) })
	return out, nil
}

// maxFlags bounds the profile count at 2^maxFlags.
const maxFlags = 12

func flagNames(flags []Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = f.Name
	}
	return out
}

// Matrix is what a gauntlet crosses: every scenario on every preset, with
// every kernel and scheduler flag profile.
type Matrix struct {
	Scenarios []Scenario
	Presets   []vm.Preset
	Kernels   []Kernel  // none: the default kernel alone
	Profiles  []Profile // none: the default profile alone
}

// Cell is one point of the matrix, run in a guest of its own.
type Cell struct {
	Scenario string `json:"scenario"`
	Preset   string `json:"preset"`
	Profile  string `json:"profile"`
	Kernel   string `json:"kernel"`
}

// Key names the cell as ktstr names gauntlet variants:
// scenario/preset/profile/kernel. It is also the cell's path in a
// results directory.
func (c Cell) Key() string {
	return c.Scenario + "/" + c.Preset + "/" + c.Profile + "/" + c.Kernel
}

// ParseKey reads a Key back.
func ParseKey(key string) (Cell, error) {
	p := strings.Split(key, "/")
	if len(p) != 4 {
		return Cell{}, fmt.Errorf("cell %q: want scenario/preset/profile/kernel", key)
	}
	for _, s := range p {
		if !labelRE.MatchString(s) {
			return Cell{}, fmt.Errorf("cell %q: %q is not a label (letters, digits, . _ + -)", key, s)
		}
	}
	return Cell{Scenario: p[0], Preset: p[1], Profile: p[2], Kernel: p[3]}, nil
}

// labelRE is what a cell's coordinates may hold: safe as a path
// component, never "." or "..".
var labelRE = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$`)

// Validate checks the matrix's labels are unique and non-empty.
func (m Matrix) Validate() error {
	if len(m.Scenarios) == 0 || len(m.Presets) == 0 {
		return fmt.Errorf("matrix: want at least one scenario and one preset, got %d and %d", len(m.Scenarios), len(m.Presets))
	}
	seen := map[string]string{}
	unique := func(what, label, from string) error {
		k := what + "\x00" + label
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("%s %q twice (%s and %s): labels must be unique", what, label, prev, from)
		}
		seen[k] = from
		return nil
	}
	for _, s := range m.Scenarios {
		if err := unique("scenario", s.Name, s.Script+s.Catalog); err != nil {
			return err
		}
	}
	for _, p := range m.Presets {
		if err := unique("preset", p.Label(), p.Shape()); err != nil {
			return err
		}
	}
	for _, k := range m.Kernels {
		if err := unique("kernel", k.Label, k.Path); err != nil {
			return err
		}
	}
	return nil
}

// Cells lists every cell, scenario by scenario, then preset, profile and
// kernel: the order shards count in. A scenario's cells are those of the
// profiles it runs under (Scenario.Runs); without profiles, every
// scenario runs once per preset and kernel.
func (m Matrix) Cells() []Cell {
	kernels := m.Kernels
	if len(kernels) == 0 {
		kernels = []Kernel{{Label: DefaultKernel}}
	}
	profiles := m.Profiles
	if len(profiles) == 0 {
		profiles = []Profile{{Name: DefaultProfile}}
	}
	var out []Cell
	for _, s := range m.Scenarios {
		for _, p := range m.Presets {
			for _, pr := range profiles {
				if len(m.Profiles) > 0 && !s.Runs(pr) {
					continue
				}
				for _, k := range kernels {
					out = append(out, Cell{Scenario: s.Name, Preset: p.Label(), Profile: pr.Name, Kernel: k.Label})
				}
			}
		}
	}
	return out
}

// Lookup finds the scenario, preset, profile and kernel a cell of m names.
func (m Matrix) Lookup(c Cell) (Scenario, vm.Preset, Profile, Kernel, error) {
	var (
		s  Scenario
		p  vm.Preset
		pr = Profile{Name: DefaultProfile}
		k  = Kernel{Label: DefaultKernel}
		ok [4]bool
	)
	for _, x := range m.Scenarios {
		if x.Name == c.Scenario {
			s, ok[0] = x, true
		}
	}
	for _, x := range m.Presets {
		if x.Label() == c.Preset {
			p, ok[1] = x, true
		}
	}
	ok[2] = len(m.Profiles) == 0 && c.Profile == DefaultProfile
	for _, x := range m.Profiles {
		if x.Name == c.Profile {
			pr, ok[2] = x, true
		}
	}
	ok[3] = len(m.Kernels) == 0 && c.Kernel == DefaultKernel
	for _, x := range m.Kernels {
		if x.Label == c.Kernel {
			k, ok[3] = x, true
		}
	}
	if slices.Contains(ok[:], false) {
		return s, p, pr, k, fmt.Errorf("cell %s is not in the matrix", c.Key())
	}
	return s, p, pr, k, nil
}
