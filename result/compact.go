package result

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/ktstar/ktstar/stats"
)

// SampleStats summarises one report's wake samples (its reservoir):
// count, extremes, the percentiles compare and report use, and a
// log-linear histogram for plots.
type SampleStats struct {
	N                             uint64
	Min, P50, P90, P99, P999, Max uint64
	Hist                          Hist
}

// Hist counts samples in log-linear buckets: HistSub buckets per power of
// two, so a bucket's width is at most 1/HistSub of its lower bound.
type Hist []uint64

// HistSub is the number of buckets per power of two.
const HistSub = 16

// histBucket returns v's bucket: values below HistSub have one each,
// then each power of two splits into HistSub equal parts.
func histBucket(v uint64) int {
	if v < HistSub {
		return int(v)
	}
	exp := 63 - bits.LeadingZeros64(v) // v in [2^exp, 2^(exp+1))
	shift := exp - 4                   // log2(HistSub)
	return (shift+1)*HistSub + int(v>>shift) - HistSub
}

// HistLower is the smallest value of bucket b.
func HistLower(b int) uint64 {
	if b < HistSub {
		return uint64(b)
	}
	shift := b/HistSub - 1
	return uint64(b%HistSub+HistSub) << shift
}

// Add counts v.
func (h *Hist) Add(v uint64) {
	b := histBucket(v)
	if b >= len(*h) {
		*h = append(*h, make([]uint64, b+1-len(*h))...)
	}
	(*h)[b]++
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o Hist) {
	if len(o) > len(*h) {
		*h = append(*h, make([]uint64, len(o)-len(*h))...)
	}
	for i, n := range o {
		(*h)[i] += n
	}
}

// sampleKeys are the report fields that hold reservoirs: the first is
// summarised, the others dropped.
var sampleKeys = [][]byte{[]byte(`"wake_latencies_ns"`), []byte(`"iteration_costs_ns"`)}

// ReadCompact reads a result like Read but keeps no samples: each
// report's reservoirs are parsed straight from the file, its wake samples
// summarised into Run.Samples, and both dropped before the document is
// decoded. A result of 64 workers × 100,000 samples × 5 repetitions reads
// in a fraction of Read's time and memory; compare and report use it.
func ReadCompact(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, wake, err := strip(b, sampleKeys[0], true)
	if err == nil {
		b, _, err = strip(b, sampleKeys[1], false)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a ktstar result: %w", path, err)
	}
	d, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k := 0
	for i := range d.Runs {
		r := &d.Runs[i]
		r.Samples = make([]SampleStats, len(r.Reports))
		for j := range r.Reports {
			if k >= len(wake) {
				return nil, fmt.Errorf("%s: not a ktstar result: %d reports but %d sample lists", path, k+1, len(wake))
			}
			r.Samples[j] = wake[k]
			k++
		}
	}
	if k != len(wake) {
		return nil, fmt.Errorf("%s: not a ktstar result: %d reports but %d sample lists", path, k, len(wake))
	}
	return d, nil
}

// strip removes the array value of every object member named key from
// the JSON in b (in place), leaving an empty array, and with summarise
// returns the SampleStats of each in document order. A key is a member
// name only where the byte before it (past white space) is '{' or ','
// and a ':' follows: inside a string every quote is escaped.
func strip(b, key []byte, summarise bool) ([]byte, []SampleStats, error) {
	var out []SampleStats
	var buf []uint64
	w, r := 0, 0
	for {
		i := bytes.Index(b[r:], key)
		if i < 0 {
			break
		}
		start := r + i
		p := start + len(key)
		if !memberName(b, start) {
			n := copy(b[w:], b[r:p])
			w, r = w+n, p
			continue
		}
		p = skipSpace(b, p)
		if p >= len(b) || b[p] != ':' {
			return nil, nil, fmt.Errorf("%s without a value at byte %d", key, start)
		}
		p = skipSpace(b, p+1)
		if bytes.HasPrefix(b[p:], []byte("null")) {
			if summarise {
				out = append(out, SampleStats{})
			}
			n := copy(b[w:], b[r:p+4])
			w, r = w+n, p+4
			continue
		}
		if p >= len(b) || b[p] != '[' {
			return nil, nil, fmt.Errorf("%s is not an array at byte %d", key, p)
		}
		buf = buf[:0]
		end, err := parseUints(b, p+1, &buf)
		if err != nil {
			return nil, nil, fmt.Errorf("%s at byte %d: %w", key, p, err)
		}
		if summarise {
			out = append(out, summariseSamples(buf))
		}
		n := copy(b[w:], b[r:p+1]) // up to and including '['
		w += n
		b[w] = ']'
		w++
		r = end + 1 // past ']'
	}
	n := copy(b[w:], b[r:])
	return b[:w+n], out, nil
}

func memberName(b []byte, start int) bool {
	for i := start - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', ',':
			return true
		}
		return false
	}
	return false
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// parseUints parses comma-separated unsigned integers from b[p:] up to a
// ']' and returns that bracket's index.
func parseUints(b []byte, p int, out *[]uint64) (int, error) {
	p = skipSpace(b, p)
	if p < len(b) && b[p] == ']' {
		return p, nil
	}
	for {
		p = skipSpace(b, p)
		var v uint64
		digits := 0
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			d := uint64(b[p] - '0')
			if v > (1<<64-1-d)/10 {
				return 0, errors.New("a sample overflows 64 bits")
			}
			v = v*10 + d
			p++
			digits++
		}
		if digits == 0 {
			if p >= len(b) {
				return 0, errors.New("the JSON ends early (a truncated file?)")
			}
			return 0, fmt.Errorf("want an unsigned integer, got %q", b[p])
		}
		*out = append(*out, v)
		p = skipSpace(b, p)
		if p >= len(b) {
			return 0, errors.New("the JSON ends early (a truncated file?)")
		}
		switch b[p] {
		case ',':
			p++
		case ']':
			return p, nil
		default:
			return 0, fmt.Errorf("want ',' or ']', got %q", b[p])
		}
	}
}

// summariseSamples computes s's SampleStats; it reorders s.
func summariseSamples(s []uint64) SampleStats {
	st := SampleStats{N: uint64(len(s))}
	if len(s) == 0 {
		return st
	}
	for _, v := range s {
		st.Hist.Add(v)
	}
	p, _ := stats.Percentiles([]float64{0, 50, 90, 99, 99.9, 100}, s)
	st.Min, st.P50, st.P90, st.P99, st.P999, st.Max = p[0], p[1], p[2], p[3], p[4], p[5]
	return st
}
