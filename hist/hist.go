// Package hist is a fixed-memory log-linear latency histogram: the
// fio-style buckets schbench uses (spec schbench-taobench.md A.10), widened
// to 64-bit values so the same code can hold schbench's microseconds or
// whole-run wake latencies in nanoseconds.
//
// Bucketing. Values below 512 have a bucket each (exact). A value v ≥ 512
// whose highest set bit is m goes to group g = m − 7 (g ≥ 2), which cuts
// [2^m, 2^(m+1)) into 256 equal slices of width 2^(m−8); the bucket index
// is g·256 + (v >> (m−8)) mod 256. A histogram of G groups has G·256
// buckets; values beyond the last group land in the last bucket.
//
// Reported values. A bucket below 512 reports its value; any other reports
// the midpoint of its range, lower bound + width/2, an exact integer. So for
// every value v that is not clamped into the last bucket, the reported value
// r satisfies |r − v| ≤ width/2 ≤ v/512: the relative error is at most
// 1/512 (0.2 %), and 0 below 512. Min, Max, Sum and Count are exact.
//
// Percentiles walk the buckets in order with a running count; percentile p
// is the first bucket whose running count reaches p/100·N (compared in
// float64, as upstream compares in double), so several percentiles may
// share a bucket, and with N = 0 every percentile reads 0.
//
// With [Schbench] (19 groups, 4864 buckets, values up to 2^26 − 1 before
// clamping) the bucket indices, reported values and percentile picks are
// bit for bit those of schbench's plat_val_to_idx, plat_idx_to_val and
// calc_percentiles for every value schbench can record. Two deliberate
// differences: Min is the true minimum of the recorded values (upstream
// treats a 0 min as unset, so a recorded 0 never shows as min), and
// [Hist.Merge] ignores an empty operand's min (upstream lets an idle
// worker reset the merged min to 0: spec A.15).
//
// Concurrency: one goroutine or thread records into a histogram; any other
// may read it (Merge from it, Count, Percentiles) meanwhile, since every
// field is accessed atomically. A reader then sees each field up to date on
// its own, not a snapshot of all fields at one instant, as upstream.
// Record does not allocate.
package hist

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

const (
	// subBits is log2 of the buckets per group.
	subBits = 8
	// perGroup is the number of buckets in a group.
	perGroup = 1 << subBits
	// exactBelow is the first value that is not its own bucket.
	exactBelow = 2 * perGroup
	// MaxGroups is enough groups for every uint64 value (highest bit 63).
	MaxGroups = 64 - subBits + 1
)

// Config fixes a histogram's size; its unit is whatever the caller records.
type Config struct {
	// Groups is the number of 256-bucket groups, 2..MaxGroups. Values up
	// to 2^(Groups+7) − 1 get their own bucket range; larger ones are
	// clamped into the last bucket (Max still reports them exactly).
	Groups int
}

// Schbench is upstream schbench's layout: 19 groups, microseconds, values
// of 2^26 µs (67 s) and more clamped.
var Schbench = Config{Groups: 19}

// Nanoseconds holds nanosecond latencies up to 2^43 ns (about 2.4 hours)
// unclamped, in 36 groups (72 KiB of counters).
var Nanoseconds = Config{Groups: 36}

// Limit is the smallest value that is clamped into the last bucket.
func (c Config) Limit() uint64 {
	if c.Groups >= MaxGroups {
		return 0 // nothing is clamped; 0 stands for 2^64
	}
	return 1 << (c.Groups + subBits - 1)
}

// Buckets is the number of buckets of a histogram of this layout.
func (c Config) Buckets() int { return c.Groups * perGroup }

func (c Config) check() error {
	if c.Groups < 2 || c.Groups > MaxGroups {
		return fmt.Errorf("hist: groups %d out of range 2..%d", c.Groups, MaxGroups)
	}
	return nil
}

// Index returns the bucket a value falls in.
func (c Config) Index(v uint64) int {
	if v < exactBelow {
		return int(v)
	}
	e := bits.Len64(v) - 1 - subBits
	i := (e+1)<<subBits + int((v>>e)&(perGroup-1))
	return min(i, c.Buckets()-1)
}

// Bounds returns the smallest and largest value of bucket i (inclusive).
// The last bucket also holds every clamped value above its upper bound.
func (c Config) Bounds(i int) (lo, hi uint64) {
	if i < exactBelow {
		return uint64(i), uint64(i)
	}
	e := i>>subBits - 1
	lo = uint64(perGroup+i%perGroup) << e
	return lo, lo + 1<<e - 1
}

// Value returns the value a bucket reports: exact below 512, otherwise the
// midpoint lower bound + width/2.
func (c Config) Value(i int) uint64 {
	if i < exactBelow {
		return uint64(i)
	}
	lo, _ := c.Bounds(i)
	return lo + 1<<(i>>subBits-2)
}

// Hist is one histogram. Make it with [New]; do not copy it.
type Hist struct {
	cfg    Config
	counts []atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Uint64 // meaningful only when n > 0
	max    atomic.Uint64
}

// New returns an empty histogram of the given layout; it never grows.
func New(c Config) (*Hist, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return &Hist{cfg: c, counts: make([]atomic.Uint64, c.Buckets())}, nil
}

// MustNew is New for the package's own layouts, which cannot fail.
func MustNew(c Config) *Hist {
	h, err := New(c)
	if err != nil {
		panic(err)
	}
	return h
}

// Config returns the histogram's layout.
func (h *Hist) Config() Config { return h.cfg }

// Record adds one value. One writer at a time; it does not allocate.
func (h *Hist) Record(v uint64) {
	if h.n.Load() == 0 || v < h.min.Load() {
		h.min.Store(v)
	}
	if v > h.max.Load() {
		h.max.Store(v)
	}
	h.counts[h.cfg.Index(v)].Add(1) // before n: see PercentilesInto
	h.sum.Add(v)
	h.n.Add(1)
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Sum is the sum of the recorded values (wrapping past 2^64).
func (h *Hist) Sum() uint64 { return h.sum.Load() }

// Min is the smallest recorded value, 0 when empty.
func (h *Hist) Min() uint64 {
	if h.n.Load() == 0 {
		return 0
	}
	return h.min.Load()
}

// Max is the largest recorded value, exact even when clamped; 0 when empty.
func (h *Hist) Max() uint64 { return h.max.Load() }

// Mean is Sum/Count, 0 when empty.
func (h *Hist) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Reset empties the histogram (schbench's warm-up and zero-time clears).
func (h *Hist) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
	h.min.Store(0)
	h.max.Store(0)
}

// Merge adds o's values into h (schbench's combine_stats, with the empty
// operand's min ignored). The layouts must be equal.
func (h *Hist) Merge(o *Hist) error {
	if h.cfg != o.cfg {
		return fmt.Errorf("hist: merge %d groups into %d", o.cfg.Groups, h.cfg.Groups)
	}
	on := o.n.Load()
	if on == 0 {
		return nil
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	if om := o.min.Load(); h.n.Load() == 0 || om < h.min.Load() {
		h.min.Store(om)
	}
	if om := o.max.Load(); om > h.max.Load() {
		h.max.Store(om)
	}
	h.sum.Add(o.sum.Load())
	h.n.Add(on)
	return nil
}

// Pick is one percentile as schbench prints it.
type Pick struct {
	P     float64 `json:"p"`
	Value uint64  `json:"value"`
	// Samples is the running count at this percentile's bucket minus the
	// running count at the previous percentile's bucket (the "(k samples)"
	// of schbench's tables), so it can be 0.
	Samples uint64 `json:"samples"`
}

// SchbenchPercentiles is upstream's fixed list; every table row comes from it.
var SchbenchPercentiles = []float64{20, 50, 90, 99, 99.9}

// Percentiles walks the buckets once for ps, given in ascending order.
func (h *Hist) Percentiles(ps []float64) []Pick {
	out := make([]Pick, len(ps))
	h.PercentilesInto(out, ps)
	return out
}

// PercentilesInto is Percentiles writing into dst (len(dst) == len(ps)),
// without allocating. N is read before the buckets, and Record and Merge
// add to a bucket before they add to N, so a writer running meanwhile
// cannot make a percentile miss its bucket.
func (h *Hist) PercentilesInto(dst []Pick, ps []float64) {
	n := h.n.Load()
	for j := range dst {
		dst[j] = Pick{P: ps[j]}
	}
	var run, prev uint64
	j := 0
	for i := 0; i < len(h.counts) && j < len(ps); i++ {
		run += h.counts[i].Load()
		for j < len(ps) && float64(run) >= ps[j]/100.0*float64(n) {
			dst[j].Value = h.cfg.Value(i)
			dst[j].Samples = run - prev
			prev = run
			j++
		}
	}
}

// Percentile returns one percentile's reported value (see the package doc).
func (h *Hist) Percentile(p float64) uint64 {
	return h.Percentiles([]float64{p})[0].Value
}

// Bucket is one non-empty bucket: its inclusive range and its count.
type Bucket struct {
	Lo    uint64 `json:"lo"`
	Hi    uint64 `json:"hi"`
	Count uint64 `json:"n"`
}

// Buckets lists the non-empty buckets in ascending order, for JSON.
func (h *Hist) Buckets() []Bucket {
	var out []Bucket
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			lo, hi := h.cfg.Bounds(i)
			out = append(out, Bucket{Lo: lo, Hi: hi, Count: c})
		}
	}
	return out
}

// Summary is a histogram as a report carries it: exact count, min, max and
// sum, the percentile picks, and the non-empty buckets, from which
// [FromSummary] rebuilds the histogram (to merge runs or repeat the walk).
type Summary struct {
	Groups      int      `json:"groups"`
	Count       uint64   `json:"count"`
	Min         uint64   `json:"min"`
	Max         uint64   `json:"max"`
	Sum         uint64   `json:"sum"`
	Percentiles []Pick   `json:"percentiles"`
	Buckets     []Bucket `json:"buckets,omitempty"`
}

// Summarize reads h into a Summary with the percentiles ps.
func (h *Hist) Summarize(ps []float64) Summary {
	return Summary{
		Groups: h.cfg.Groups, Count: h.Count(), Min: h.Min(), Max: h.Max(),
		Sum: h.Sum(), Percentiles: h.Percentiles(ps), Buckets: h.Buckets(),
	}
}

// Pick returns the summary's pick for percentile p, and whether it has one.
func (s Summary) Pick(p float64) (Pick, bool) {
	for _, k := range s.Percentiles {
		if k.P == p {
			return k, true
		}
	}
	return Pick{}, false
}

// FromSummary rebuilds a histogram from a summary's buckets, checking that
// each bucket is one of the layout's and that the counts add up.
func FromSummary(s Summary) (*Hist, error) {
	h, err := New(Config{Groups: s.Groups})
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, b := range s.Buckets {
		i := h.cfg.Index(b.Lo)
		if lo, hi := h.cfg.Bounds(i); lo != b.Lo || hi != b.Hi {
			return nil, fmt.Errorf("hist: bucket [%d, %d] is not one of a %d-group histogram", b.Lo, b.Hi, s.Groups)
		}
		h.counts[i].Add(b.Count)
		n += b.Count
	}
	if n != s.Count {
		return nil, fmt.Errorf("hist: buckets hold %d values, count says %d", n, s.Count)
	}
	h.n.Store(n)
	h.sum.Store(s.Sum)
	h.min.Store(s.Min)
	h.max.Store(s.Max)
	return h, nil
}
