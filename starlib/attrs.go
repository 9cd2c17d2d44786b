package starlib

import (
	"maps"
	"slices"

	"go.starlark.net/starlark"
)

// attrs is a value type's attribute table: name to getter. Attr and
// AttrNames both come from it, so an attribute is named once.
type attrs[V any] map[string]func(V) starlark.Value

// get returns v's attribute name, or nil, nil when there is none (the
// starlark.HasAttrs convention).
func (a attrs[V]) get(v V, name string) (starlark.Value, error) {
	if f, ok := a[name]; ok {
		return f(v), nil
	}
	return nil, nil
}

// names lists the attributes, sorted.
func (a attrs[V]) names() []string { return slices.Sorted(maps.Keys(a)) }

// noneIfEmpty is s, or None when s is "".
func noneIfEmpty(s string) starlark.Value {
	if s == "" {
		return starlark.None
	}
	return starlark.String(s)
}
