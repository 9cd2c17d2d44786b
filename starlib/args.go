package starlib

import (
	"fmt"
	"time"

	"github.com/ktstar/ktstar/workload"
	timelib "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

// Parameter types that unpack themselves (starlark.Unpacker), as
// go.starlark.net's lib/time.Duration does: pass a pointer to
// starlark.UnpackArgs and it converts and checks the value, naming the
// parameter in its error.
var (
	_ starlark.Unpacker = (*durationParam)(nil)
	_ starlark.Unpacker = (*cpuListParam)(nil)
)

// durationParam is a duration parameter: a time.duration or a Go duration
// string such as "50ms".
type durationParam time.Duration

// Unpack converts v.
func (d *durationParam) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case timelib.Duration:
		*d = durationParam(x)
		return nil
	case starlark.String:
		p, err := time.ParseDuration(string(x))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"50ms\")", string(x))
		}
		*d = durationParam(p)
		return nil
	}
	return fmt.Errorf("want a duration (time.second or \"50ms\"), got %s", v.Type())
}

// cpuListParam is a CPU list parameter: a list or tuple of ints, or a kernel
// CPU list string such as "0-3,8".
type cpuListParam []int

// Unpack converts v.
func (c *cpuListParam) Unpack(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		cpus, err := workload.ParseCPUList(string(s))
		*c = cpus
		return err
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return fmt.Errorf("want a list of ints or a CPU list string like \"0-3\", got %s", v.Type())
	}
	out := make([]int, seq.Len())
	for i := range out {
		if err := starlark.AsInt(seq.Index(i), &out[i]); err != nil {
			return fmt.Errorf("cpus[%d]: %w", i, err)
		}
	}
	*c = out
	return nil
}

// cpuList converts v, a CPU list that is not a parameter of its own (an
// element of another argument), with fn's name in the error.
func cpuList(fn string, v starlark.Value) ([]int, error) {
	var c cpuListParam
	if err := c.Unpack(v); err != nil {
		return nil, fmt.Errorf("%s: cpus: %w", fn, err)
	}
	return c, nil
}
