package starlib

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/ktstar/ktstar/workload"
	"go.starlark.net/starlark"
)

// ReportOf converts a report dict (as [Reports] makes them, or one a
// script wrote) back to a workload.Report. Keys are the JSON field names;
// a missing key, None, or an empty list or dict leaves the field zero
// (nil), and keys that are not
// fields are ignored (scripts may annotate reports). A samples value is
// taken as is, without copying its slice. path names the dict in errors,
// e.g. `reports[3]`.
func ReportOf(v starlark.Value, path string) (workload.Report, error) {
	var r workload.Report
	err := fromStarlark(v, reflect.ValueOf(&r).Elem(), path)
	return r, err
}

// fromStarlark sets dst from v: the inverse of toStarlark.
func fromStarlark(v starlark.Value, dst reflect.Value, path string) error {
	if v == starlark.None {
		dst.SetZero()
		return nil
	}
	switch dst.Kind() {
	case reflect.Struct:
		d, err := want(v, path, "a dict", is[*starlark.Dict])
		if err != nil {
			return err
		}
		t := dst.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fv, found, err := d.Get(starlark.String(name))
			if err != nil {
				return err
			}
			if found {
				if err := fromStarlark(fv, dst.Field(i), fmt.Sprintf("%s[%q]", path, name)); err != nil {
					return err
				}
			}
		}
		return nil
	case reflect.Pointer:
		if h, ok := v.(*Histogram); ok && dst.Type() == histSummary {
			dst.Set(reflect.ValueOf(h.s))
			return nil
		}
		p := reflect.New(dst.Type().Elem())
		if err := fromStarlark(v, p.Elem(), path); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	case reflect.Slice:
		if s, ok := v.(*Samples); ok && dst.Type() == uint64Slice {
			dst.Set(reflect.ValueOf(s.s))
			return nil
		}
		seq, err := want(v, path, "a list", is[starlark.Indexable])
		if err != nil {
			return err
		}
		if seq.Len() == 0 {
			dst.SetZero()
			return nil
		}
		out := reflect.MakeSlice(dst.Type(), seq.Len(), seq.Len())
		for i := range seq.Len() {
			if err := fromStarlark(seq.Index(i), out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		dst.Set(out)
		return nil
	case reflect.Map:
		d, err := want(v, path, "a dict", is[*starlark.Dict])
		if err != nil {
			return err
		}
		if d.Len() == 0 {
			dst.SetZero()
			return nil
		}
		out := reflect.MakeMapWithSize(dst.Type(), d.Len())
		for _, kv := range d.Items() {
			k, e := reflect.New(dst.Type().Key()).Elem(), reflect.New(dst.Type().Elem()).Elem()
			if err := fromStarlark(kv[0], k, path+" key"); err != nil {
				return err
			}
			if err := fromStarlark(kv[1], e, fmt.Sprintf("%s[%s]", path, kv[0])); err != nil {
				return err
			}
			out.SetMapIndex(k, e)
		}
		dst.Set(out)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := want(v, path, "an int", is[starlark.Int])
		if err != nil {
			return err
		}
		if n, exact := i.Int64(); exact && dst.CanInt() && !dst.OverflowInt(n) {
			dst.SetInt(n)
			return nil
		}
		if n, exact := i.Uint64(); exact && dst.CanUint() && !dst.OverflowUint(n) {
			dst.SetUint(n)
			return nil
		}
		if dst.CanUint() {
			return fmt.Errorf("%s: %s is out of range (allowed: 0 or more)", path, v)
		}
		return fmt.Errorf("%s: %s is out of range", path, v)
	case reflect.Float32, reflect.Float64:
		return setScalar(dst, v, path, "a number", starlark.AsFloat)
	case reflect.Bool:
		return setScalar(dst, v, path, "True or False", is[starlark.Bool])
	case reflect.String:
		return setScalar(dst, v, path, "a string", starlark.AsString)
	case reflect.Interface:
		g, err := goValue(v, path)
		if err != nil {
			return err
		}
		if g != nil {
			dst.Set(reflect.ValueOf(g))
		}
		return nil
	}
	return fmt.Errorf("%s: a report field of kind %s has no Starlark form", path, dst.Kind())
}

// want is v converted by conv, or an error saying the field at path
// wanted what.
func want[T any](v starlark.Value, path, what string, conv func(starlark.Value) (T, bool)) (T, error) {
	x, ok := conv(v)
	if !ok {
		return x, fmt.Errorf("%s: want %s, got %s", path, what, v.Type())
	}
	return x, nil
}

// is converts v by a type assertion, for want.
func is[T starlark.Value](v starlark.Value) (T, bool) {
	x, ok := v.(T)
	return x, ok
}

// setScalar sets dst, a bool, number or string field, from v converted by
// conv.
func setScalar[T any](dst reflect.Value, v starlark.Value, path, what string, conv func(starlark.Value) (T, bool)) error {
	x, err := want(v, path, what, conv)
	if err != nil {
		return err
	}
	dst.Set(reflect.ValueOf(x).Convert(dst.Type()))
	return nil
}

// goValue converts plain Starlark data (None, bool, numbers, strings,
// lists, dicts with string keys) to the values encoding/json produces.
func goValue(v starlark.Value, path string) (any, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(x), nil
	case starlark.Int:
		if n, ok := x.Int64(); ok {
			return float64(n), nil
		}
		f, _ := starlark.AsFloat(x)
		return f, nil
	case starlark.Float:
		if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
			return nil, fmt.Errorf("%s: %v has no JSON form", path, x)
		}
		return float64(x), nil
	case starlark.String:
		return string(x), nil
	case starlark.Indexable:
		out := make([]any, x.Len())
		for i := range out {
			e, err := goValue(x.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, x.Len())
		for _, kv := range x.Items() {
			k, ok := starlark.AsString(kv[0])
			if !ok {
				return nil, fmt.Errorf("%s: key %s: want a string, got %s", path, kv[0], kv[0].Type())
			}
			e, err := goValue(kv[1], fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want plain data, got %s", path, v.Type())
}
