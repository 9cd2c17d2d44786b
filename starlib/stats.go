package starlib

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Stats is the Starlark module `stats`: summary statistics computed in
// Go. Every function takes data as a samples value, a list of samples
// values (e.g. [r["wake_latencies_ns"] for r in reports]), or a plain list
// of numbers (which may also mix in samples values).
//
//	def percentile(data, p) -> float or None
//	    the p-th percentile (0..100), interpolating linearly between the
//	    two nearest ranks; None when data is empty.
//	def percentiles(data, ps) -> list of float, or None
//	    several percentiles at once (cheaper than one call each).
//	def mean(data) -> float or None
//	def stdev(data) -> float or None      population standard deviation
//	def cv(data) -> float or None         stdev / mean; None when the mean is 0
//	def min(data) -> number or None
//	def max(data) -> number or None
//	def sum(data) -> number               0 when empty
//	def count(data) -> int
//
// Percentiles select in linear time on one copy of the data; the other
// functions read the samples in place.
var Stats = &starlarkstruct.Module{
	Name: "stats",
	Members: starlark.StringDict{
		"percentile":  starlark.NewBuiltin("percentile", guard(statsPercentile)),
		"percentiles": starlark.NewBuiltin("percentiles", guard(statsPercentiles)),
		"mean":        statsFunc("mean", func(d *data) starlark.Value { return orNone(d.mean()) }),
		"stdev":       statsFunc("stdev", func(d *data) starlark.Value { return orNone(d.stdev()) }),
		"cv":          statsFunc("cv", func(d *data) starlark.Value { return orNone(d.cv()) }),
		"min":         statsFunc("min", func(d *data) starlark.Value { return d.extreme(-1) }),
		"max":         statsFunc("max", func(d *data) starlark.Value { return d.extreme(1) }),
		"sum":         statsFunc("sum", func(d *data) starlark.Value { return d.sum() }),
		"count":       statsFunc("count", func(d *data) starlark.Value { return starlark.MakeInt(d.count()) }),
	},
}

// data is what a stats function reads: integer sample slices in place
// while every input is a samples value, or floats once a plain number
// appears.
type data struct {
	ints   [][]uint64 // borrowed, never modified
	floats []float64  // set when any input was a plain number
}

// collect walks the data argument.
func collect(fn string, v starlark.Value) (*data, error) {
	d := &data{}
	if s, ok := v.(*Samples); ok {
		d.ints = append(d.ints, s.s)
		return d, nil
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("%s: data: want samples or a list of samples or numbers, got %s", fn, v.Type())
	}
	for i := range seq.Len() {
		switch x := seq.Index(i).(type) {
		case *Samples:
			d.ints = append(d.ints, x.s)
		case starlark.Int, starlark.Float:
			f, _ := starlark.AsFloat(x)
			d.floats = append(d.floats, f)
		default:
			return nil, fmt.Errorf("%s: data[%d]: want samples or a number, got %s", fn, i, x.Type())
		}
	}
	if d.floats != nil {
		// Mixed input: one float slice holds everything.
		for _, s := range d.ints {
			for _, x := range s {
				d.floats = append(d.floats, float64(x))
			}
		}
		d.ints = nil
	}
	return d, nil
}

func (d *data) count() int {
	if d.floats != nil {
		return len(d.floats)
	}
	n := 0
	for _, s := range d.ints {
		n += len(s)
	}
	return n
}

// sum is exact for integer samples (128-bit, then big if needed).
func (d *data) sum() starlark.Value {
	if d.floats != nil {
		t := 0.0
		for _, x := range d.floats {
			t += x
		}
		return starlark.Float(t)
	}
	var hi, lo uint64
	for _, s := range d.ints {
		for _, x := range s {
			var c uint64
			lo, c = bits.Add64(lo, x, 0)
			hi += c
		}
	}
	if hi == 0 {
		return starlark.MakeUint64(lo)
	}
	b := new(big.Int).SetUint64(hi)
	b.Lsh(b, 64).Or(b, new(big.Int).SetUint64(lo))
	return starlark.MakeBigInt(b)
}

// each calls f on every value as a float.
func (d *data) each(f func(float64)) {
	if d.floats != nil {
		for _, x := range d.floats {
			f(x)
		}
		return
	}
	for _, s := range d.ints {
		for _, x := range s {
			f(float64(x))
		}
	}
}

func (d *data) mean() (float64, bool) {
	n := d.count()
	if n == 0 {
		return 0, false
	}
	t := 0.0
	d.each(func(x float64) { t += x })
	return t / float64(n), true
}

// stdev is the population standard deviation, two-pass for accuracy.
func (d *data) stdev() (float64, bool) {
	m, ok := d.mean()
	if !ok {
		return 0, false
	}
	ss := 0.0
	d.each(func(x float64) { ss += (x - m) * (x - m) })
	return math.Sqrt(ss / float64(d.count())), true
}

func (d *data) cv() (float64, bool) {
	m, ok := d.mean()
	if !ok || m == 0 {
		return 0, false
	}
	s, _ := d.stdev()
	return s / m, true
}

// extreme returns the minimum (sign < 0) or maximum (sign > 0), or None.
func (d *data) extreme(sign int) starlark.Value {
	if d.floats != nil {
		if len(d.floats) == 0 {
			return starlark.None
		}
		if sign < 0 {
			return starlark.Float(slices.Min(d.floats))
		}
		return starlark.Float(slices.Max(d.floats))
	}
	found := false
	var best uint64
	for _, s := range d.ints {
		if len(s) == 0 {
			continue
		}
		x := slices.Max(s)
		if sign < 0 {
			x = slices.Min(s)
		}
		if !found || (sign < 0 && x < best) || (sign > 0 && x > best) {
			best, found = x, true
		}
	}
	if !found {
		return starlark.None
	}
	return starlark.MakeUint64(best)
}

// percentiles returns each p-th percentile, or nil when there is no data.
func (d *data) percentiles(ps []float64) []float64 {
	if d.floats != nil {
		return PercentilesOf(slices.Clone(d.floats), ps)
	}
	all := make([]uint64, 0, d.count())
	for _, s := range d.ints {
		all = append(all, s...)
	}
	return PercentilesOf(all, ps)
}

// PercentilesOf computes the ps-th percentiles (0..100) of a, or nil when
// a is empty. It uses linear interpolation between
// closest ranks, reordering a in place: the ranks are selected in
// ascending order, each quickselect working right of the previous one.
func PercentilesOf[T cmp.Ordered](a []T, ps []float64) []float64 {
	if len(a) == 0 {
		return nil
	}
	type rank struct {
		lo, hi int
		frac   float64
	}
	ranks := make([]rank, len(ps))
	var need []int
	for i, p := range ps {
		r := p / 100 * float64(len(a)-1)
		lo := int(math.Floor(r))
		hi := min(lo+1, len(a)-1)
		ranks[i] = rank{lo, hi, r - float64(lo)}
		need = append(need, lo, hi)
	}
	slices.Sort(need)
	need = slices.Compact(need)
	from := 0
	for _, k := range need {
		selectK(a[from:], k-from)
		from = k
	}
	out := make([]float64, len(ps))
	for i, r := range ranks {
		lo, hi := toFloat(a[r.lo]), toFloat(a[r.hi])
		out[i] = lo + (hi-lo)*r.frac
	}
	return out
}

func toFloat[T cmp.Ordered](x T) float64 {
	switch v := any(x).(type) {
	case uint64:
		return float64(v)
	case float64:
		return v
	}
	panic("unsupported sample type")
}

// selectK reorders a so that a[k] is the k-th smallest element, everything
// before it is ≤ a[k] and everything after it ≥ a[k] (Hoare's selection
// with a median-of-three pivot, which also copes with many equal values).
func selectK[T cmp.Ordered](a []T, k int) {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for pivot < a[j] {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

func statsPercentile(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v, pv starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &v, "p", &pv); err != nil {
		return nil, err
	}
	p, err := percent(b.Name(), "p", pv)
	if err != nil {
		return nil, err
	}
	d, err := collect(b.Name(), v)
	if err != nil {
		return nil, err
	}
	r := d.percentiles([]float64{p})
	if r == nil {
		return starlark.None, nil
	}
	return starlark.Float(r[0]), nil
}

func statsPercentiles(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	var psv starlark.Indexable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &v, "ps", &psv); err != nil {
		return nil, err
	}
	ps := make([]float64, psv.Len())
	for i := range ps {
		f, err := percent(b.Name(), fmt.Sprintf("ps[%d]", i), psv.Index(i))
		if err != nil {
			return nil, err
		}
		ps[i] = f
	}
	d, err := collect(b.Name(), v)
	if err != nil {
		return nil, err
	}
	r := d.percentiles(ps)
	if r == nil {
		return starlark.None, nil
	}
	out := make([]starlark.Value, len(r))
	for i, x := range r {
		out[i] = starlark.Float(x)
	}
	return starlark.NewList(out), nil
}

// percent reads a percentile rank, an int or float in 0..100.
func percent(fn, param string, v starlark.Value) (float64, error) {
	p, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("%s: %s: want a number, got %s", fn, param, v.Type())
	}
	if !(p >= 0 && p <= 100) {
		return 0, fmt.Errorf("%s: %s = %s is out of range (allowed: 0..100)", fn, param, v)
	}
	return p, nil
}

// statsFunc builds a one-argument stats builtin.
func statsFunc(name string, f func(*data) starlark.Value) *starlark.Builtin {
	return starlark.NewBuiltin(name, guard(func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &v); err != nil {
			return nil, err
		}
		d, err := collect(b.Name(), v)
		if err != nil {
			return nil, err
		}
		return f(d), nil
	}))
}

func orNone(x float64, ok bool) starlark.Value {
	if !ok {
		return starlark.None
	}
	return starlark.Float(x)
}
