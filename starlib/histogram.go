package starlib

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/ktstar/ktstar/hist"
)

// Histogram is a report's wake_stats as scripts see it: exact aggregates
// over every wake sample and the log-linear histogram behind whole-run
// percentiles, read-only and converted only when asked:
//
//	h.count, h.min, h.max, h.sum    exact, over every sample (ints)
//	h.mean                          sum / count (float), None when empty
//	h.percentile(p)                 from the histogram, within 1/512 of the
//	                                exact nearest-rank value; None when empty
//	h.buckets                       the non-empty buckets as (lo, hi, count)
//
// The stats module takes histograms (or lists of them) as data too: count,
// sum, mean, min and max are then exact, percentiles come from the merged
// histogram.
type Histogram struct {
	s *hist.Summary
	h *hist.Hist // built from s on first use
}

var _ starlark.HasAttrs = (*Histogram)(nil)

// NewHistogram wraps s, which must not change afterwards.
func NewHistogram(s *hist.Summary) *Histogram { return &Histogram{s: s} }

// hist rebuilds the histogram from the summary's buckets once.
func (h *Histogram) hist() (*hist.Hist, error) {
	if h.h == nil {
		x, err := hist.FromSummary(*h.s)
		if err != nil {
			return nil, err
		}
		h.h = x
	}
	return h.h, nil
}

// String shows the aggregates, not the buckets.
func (h *Histogram) String() string {
	return fmt.Sprintf("histogram(count = %d, min = %d, max = %d)", h.s.Count, h.s.Min, h.s.Max)
}

// Type returns "histogram".
func (h *Histogram) Type() string { return "histogram" }

// Freeze does nothing: histograms are read-only.
func (h *Histogram) Freeze() {}

// Truth reports whether it holds any sample.
func (h *Histogram) Truth() starlark.Bool { return h.s.Count > 0 }

// Hash fails, as for a dict.
func (h *Histogram) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: histogram") }

// Attr returns the aggregates, the buckets and the percentile method.
func (h *Histogram) Attr(name string) (starlark.Value, error) { return histAttrs.get(h, name) }

// AttrNames lists the attributes.
func (h *Histogram) AttrNames() []string { return histAttrs.names() }

var histAttrs = attrs[*Histogram]{
	"count": func(h *Histogram) starlark.Value { return starlark.MakeUint64(h.s.Count) },
	"min":   func(h *Histogram) starlark.Value { return starlark.MakeUint64(h.s.Min) },
	"max":   func(h *Histogram) starlark.Value { return starlark.MakeUint64(h.s.Max) },
	"sum":   func(h *Histogram) starlark.Value { return starlark.MakeUint64(h.s.Sum) },
	"mean": func(h *Histogram) starlark.Value {
		if h.s.Count == 0 {
			return starlark.None
		}
		return starlark.Float(float64(h.s.Sum) / float64(h.s.Count))
	},
	"buckets": func(h *Histogram) starlark.Value {
		l := make([]starlark.Value, len(h.s.Buckets))
		for i, b := range h.s.Buckets {
			l[i] = starlark.Tuple{starlark.MakeUint64(b.Lo), starlark.MakeUint64(b.Hi), starlark.MakeUint64(b.Count)}
		}
		return starlark.NewList(l)
	},
	"percentile": func(h *Histogram) starlark.Value {
		return starlark.NewBuiltin("percentile", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var pv starlark.Value
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "p", &pv); err != nil {
				return nil, err
			}
			p, err := percent("histogram.percentile", "p", pv)
			if err != nil {
				return nil, err
			}
			d := &data{hists: []*Histogram{h}}
			r, err := d.histPercentiles([]float64{p})
			if err != nil || r == nil {
				return starlark.None, err
			}
			return r[0], nil
		})
	},
}
