package starlib

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/stats"
)

// Stats is the Starlark module `stats`: summary statistics computed in
// Go. Every function takes data as a samples value, a list of samples
// values (e.g. [r["wake_latencies_ns"] for r in reports]), or a plain list
// of numbers (which may also mix in samples values); or as a histogram
// (a report's wake_stats) or a list of them, which cover every sample
// rather than a reservoir's: count, sum, mean, min and max are then
// exact, percentiles come from the merged histogram (within 1/512), and
// stdev and cv are refused (a histogram keeps no single samples).
//
//	def percentile(data, p) -> number or None
//	    the p-th percentile (0..100) by nearest rank: the sample at sorted
//	    index ceil(n·p/100) − 1, so always an observed value (an int for
//	    samples) and the same figure the checks judge; None when empty.
//	def percentiles(data, ps) -> list of numbers, or None
//	    several percentiles at once (cheaper than one call each).
//	def mean(data) -> float or None
//	def stdev(data) -> float or None      population standard deviation
//	def cv(data) -> float or None         stdev / mean; None when the mean is 0
//	def min(data) -> number or None
//	def max(data) -> number or None
//	def sum(data) -> number               0 when empty
//	def count(data) -> int
//	def schbench_tables(report) -> string
//	    a Schbench worker's report (its dict) as upstream schbench prints
//	    its final tables: wakeup and request latency percentiles, RPS,
//	    average RPS and sched delay.
//
// The arithmetic is package stats'; percentiles select in linear time on
// one copy of the data, the other functions read the samples in place.
var Stats = builtinModule("stats", map[string]builtinFunc{
	"percentile":      statsPercentile,
	"percentiles":     statsPercentiles,
	"mean":            statsFunc(func(d *data) starlark.Value { return orNone(d.mean()) }),
	"stdev":           statsFunc(func(d *data) starlark.Value { return orNone(d.stdev()) }),
	"cv":              statsFunc(func(d *data) starlark.Value { return orNone(d.cv()) }),
	"min":             statsFunc(func(d *data) starlark.Value { return d.extreme(-1) }),
	"max":             statsFunc(func(d *data) starlark.Value { return d.extreme(1) }),
	"sum":             statsFunc(func(d *data) starlark.Value { return d.sum() }),
	"count":           statsFunc(func(d *data) starlark.Value { return starlark.MakeUint64(d.count()) }),
	"schbench_tables": schbenchTables,
})

// data is what a stats function reads: integer sample slices in place
// while every input is a samples value, or floats once a plain number
// appears.
type data struct {
	ints   [][]uint64   // borrowed, never modified
	floats []float64    // set when any input was a plain number
	hists  []*Histogram // set when the inputs are histograms, and then alone
}

// collect walks the data argument.
func collect(fn string, v starlark.Value) (*data, error) {
	d := &data{}
	switch x := v.(type) {
	case *Samples:
		d.ints = append(d.ints, x.s)
		return d, nil
	case *Histogram:
		d.hists = append(d.hists, x)
		return d, nil
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("%s: data: want samples, a histogram or a list of samples, histograms or numbers, got %s", fn, v.Type())
	}
	for i := range seq.Len() {
		switch x := seq.Index(i).(type) {
		case *Samples:
			d.ints = append(d.ints, x.s)
		case *Histogram:
			d.hists = append(d.hists, x)
		case starlark.Int, starlark.Float:
			f, _ := starlark.AsFloat(x)
			d.floats = append(d.floats, f)
		default:
			return nil, fmt.Errorf("%s: data[%d]: want samples, a histogram or a number, got %s", fn, i, x.Type())
		}
	}
	if d.hists != nil && (d.ints != nil || d.floats != nil) {
		return nil, fmt.Errorf("%s: data: histograms cover every sample and cannot be mixed with samples or numbers", fn)
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

func (d *data) count() uint64 {
	if d.floats != nil {
		return uint64(len(d.floats))
	}
	var n uint64
	for _, s := range d.ints {
		n += uint64(len(s))
	}
	for _, h := range d.hists {
		n += h.s.Count
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
	for _, h := range d.hists {
		var c uint64
		lo, c = bits.Add64(lo, h.s.Sum, 0)
		hi += c
	}
	if hi == 0 {
		return starlark.MakeUint64(lo)
	}
	b := new(big.Int).SetUint64(hi)
	b.Lsh(b, 64).Or(b, new(big.Int).SetUint64(lo))
	return starlark.MakeBigInt(b)
}

func (d *data) mean() (float64, bool) {
	if d.hists != nil {
		n := d.count()
		if n == 0 {
			return 0, false
		}
		f, _ := starlark.AsFloat(d.sum())
		return f / float64(n), true
	}
	return finite(d.apply(stats.Mean[float64], stats.Mean[uint64]))
}
func (d *data) stdev() (float64, bool) {
	return finite(d.apply(stats.Stdev[float64], stats.Stdev[uint64]))
}
func (d *data) cv() (float64, bool) { return finite(d.apply(stats.CV[float64], stats.CV[uint64])) }

// apply runs the float or the integer form of a statistic on the data.
func (d *data) apply(f func(...[]float64) float64, i func(...[]uint64) float64) float64 {
	if d.floats != nil {
		return f(d.floats)
	}
	return i(d.ints...)
}

// finite maps stats' NaN for "no answer" to false.
func finite(x float64) (float64, bool) { return x, !math.IsNaN(x) }

// extreme returns the minimum (sign < 0) or maximum (sign > 0), or None.
func (d *data) extreme(sign int) starlark.Value {
	if d.hists != nil {
		var v uint64
		found := false
		for _, h := range d.hists {
			if h.s.Count == 0 {
				continue
			}
			x := h.s.Max
			if sign < 0 {
				x = h.s.Min
			}
			if !found || (sign < 0 && x < v) || (sign > 0 && x > v) {
				v, found = x, true
			}
		}
		if !found {
			return starlark.None
		}
		return starlark.MakeUint64(v)
	}
	if d.floats != nil {
		f := stats.Max[float64]
		if sign < 0 {
			f = stats.Min[float64]
		}
		if v, ok := f(d.floats); ok {
			return starlark.Float(v)
		}
		return starlark.None
	}
	f := stats.Max[uint64]
	if sign < 0 {
		f = stats.Min[uint64]
	}
	if v, ok := f(d.ints...); ok {
		return starlark.MakeUint64(v)
	}
	return starlark.None
}

// histPercentiles merges the histograms and returns each p-th percentile
// (ps in any order), or nil when they hold no sample.
func (d *data) histPercentiles(ps []float64) ([]starlark.Value, error) {
	if d.count() == 0 {
		return nil, nil
	}
	merged := hist.MustNew(hist.Nanoseconds)
	for _, h := range d.hists {
		x, err := h.hist()
		if err == nil {
			err = merged.Merge(x)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]starlark.Value, len(ps))
	for i, p := range ps {
		out[i] = starlark.MakeUint64(merged.Percentile(p))
	}
	return out, nil
}

// percentiles returns each p-th percentile as a Starlark number, or nil
// when there is no data.
func (d *data) percentiles(ps []float64) ([]starlark.Value, error) {
	if d.hists != nil {
		return d.histPercentiles(ps)
	}
	if d.count() == 0 {
		return nil, nil
	}
	out := make([]starlark.Value, len(ps))
	if d.floats != nil {
		r, _ := stats.Percentiles(ps, d.floats)
		for i, x := range r {
			out[i] = starlark.Float(x)
		}
		return out, nil
	}
	r, _ := stats.Percentiles(ps, d.ints...)
	for i, x := range r {
		out[i] = starlark.MakeUint64(x)
	}
	return out, nil
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
	r, err := d.percentiles([]float64{p})
	if err != nil || r == nil {
		return starlark.None, err
	}
	return r[0], nil
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
	r, err := d.percentiles(ps)
	if err != nil || r == nil {
		return starlark.None, err
	}
	return starlark.NewList(r), nil
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
func statsFunc(f func(*data) starlark.Value) builtinFunc {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &v); err != nil {
			return nil, err
		}
		d, err := collect(b.Name(), v)
		if err != nil {
			return nil, err
		}
		if d.hists != nil && (b.Name() == "stdev" || b.Name() == "cv") {
			return nil, fmt.Errorf("%s: a histogram keeps no single samples; pass the reservoirs (wake_latencies_ns) instead", b.Name())
		}
		return f(d), nil
	}
}

func orNone(x float64, ok bool) starlark.Value {
	if !ok {
		return starlark.None
	}
	return starlark.Float(x)
}

func schbenchTables(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "report", &v); err != nil {
		return nil, err
	}
	r, err := ReportOf(v, "report")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if r.Schbench == nil {
		return nil, fmt.Errorf("%s: report has no schbench figures (not a work.schbench() worker)", b.Name())
	}
	return starlark.String(r.Schbench.Tables()), nil
}
