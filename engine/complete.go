package engine

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// A value path is what completion may look inside: a name followed by
// attributes and constant indexes (x.y, r[0], d["k"]). Completion never
// calls a function, so pressing Tab cannot start or stop anything.
const pathPattern = `[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[-?\d+\]|\["[^"\\]*"\]|\['[^'\\]*'\])*`

var (
	// `path["par` : a dict key being typed.
	keyRe = regexp.MustCompile(`(` + pathPattern + `)\[(["'])([^"'\\]*)$`)
	// `path.na` or `na` : an attribute or a global being typed.
	nameRe = regexp.MustCompile(`(?:(` + pathPattern + `)\.)?([A-Za-z_]\w*)?$`)
	stepRe = regexp.MustCompile(`^(?:\.([A-Za-z_]\w*)|\[(-?\d+)\]|\["([^"\\]*)"\]|\['([^'\\]*)'\])`)
	nameAt = regexp.MustCompile(`^[A-Za-z_]\w*`)
)

// complete returns the candidates for the word that ends line (the text
// before the cursor) and where that word starts: globals and builtins,
// attributes of a value path (work.fu → futex_fan_out, futex_ping_pong),
// or the string keys of a dict (r["wa → wake_latencies_ns"]), each
// candidate with the text that closes it. Sorted; nil when nothing fits.
func complete(globals starlark.StringDict, line string) (start int, cands []string) {
	if m := keyRe.FindStringSubmatchIndex(line); m != nil {
		v := lookup(globals, line[m[2]:m[3]])
		d, ok := v.(*starlark.Dict)
		if !ok {
			return 0, nil
		}
		quote, typed := line[m[4]:m[5]], line[m[6]:m[7]]
		for _, k := range d.Keys() {
			if s, ok := k.(starlark.String); ok && strings.HasPrefix(string(s), typed) {
				cands = append(cands, string(s)+quote+"]")
			}
		}
		slices.Sort(cands)
		return m[6], cands
	}
	m := nameRe.FindStringSubmatchIndex(line)
	if m == nil {
		return 0, nil
	}
	typed := ""
	if m[4] >= 0 {
		typed = line[m[4]:m[5]]
	}
	start = len(line) - len(typed)
	var names []string
	if m[2] >= 0 {
		v, ok := lookup(globals, line[m[2]:m[3]]).(starlark.HasAttrs)
		if !ok {
			return 0, nil
		}
		names = v.AttrNames()
	} else {
		if typed == "" {
			return 0, nil // nothing typed yet: every name would be noise
		}
		for k := range globals {
			names = append(names, k)
		}
		for k := range starlark.Universe {
			names = append(names, k)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, typed) && (strings.HasPrefix(typed, "_") || !strings.HasPrefix(n, "_")) {
			cands = append(cands, n)
		}
	}
	slices.Sort(cands)
	return start, slices.Compact(cands)
}

// lookup evaluates a value path against globals, or returns nil.
func lookup(globals starlark.StringDict, path string) starlark.Value {
	name := nameAt.FindString(path)
	v, ok := globals[name]
	if !ok {
		v, ok = starlark.Universe[name]
	}
	if !ok {
		return nil
	}
	for rest := path[len(name):]; rest != ""; {
		m := stepRe.FindStringSubmatch(rest)
		if m == nil {
			return nil
		}
		rest = rest[len(m[0]):]
		var err error
		switch {
		case m[1] != "":
			h, ok := v.(starlark.HasAttrs)
			if !ok {
				return nil
			}
			v, err = h.Attr(m[1])
		case m[2] != "":
			i, _ := strconv.Atoi(m[2])
			x, ok := v.(starlark.Indexable)
			if !ok {
				return nil
			}
			if i < 0 {
				i += x.Len()
			}
			if i < 0 || i >= x.Len() {
				return nil
			}
			v = x.Index(i)
		default:
			key := m[3] + m[4]
			x, ok := v.(starlark.Mapping)
			if !ok {
				return nil
			}
			var found bool
			v, found, err = x.Get(starlark.String(key))
			if !found {
				return nil
			}
		}
		if err != nil || v == nil {
			return nil
		}
	}
	return v
}

// commonPrefix is the longest prefix every candidate shares.
func commonPrefix(cands []string) string {
	if len(cands) == 0 {
		return ""
	}
	p := cands[0]
	for _, c := range cands[1:] {
		for !strings.HasPrefix(c, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
