package result

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ktstar/ktstar/hist"
	"github.com/ktstar/ktstar/stats"
)

// SampleStats summarises one report's wake samples (its reservoir):
// count, extremes and the percentiles compare and report use, exact; and
// with ReadCompact's hists, the log-linear histogram report plots.
type SampleStats struct {
	N                             uint64
	Min, P50, P90, P99, P999, Max uint64
	Hist                          *hist.Summary // nil without hists
}

// ReadCompact reads a result like Read but keeps no samples: it streams
// the file, parses each report's reservoirs as they pass, summarises the
// wake samples into Run.Samples and drops both lists before the rest of
// the document is decoded; backdrop workers' phase slices are dropped
// whole (the rows stored with each run cover its steps). A result of 64 workers × 100,000 samples × 5
// repetitions reads in a fraction of Read's time and memory; compare and
// report use it. With hists, each report's samples are also counted into
// a hist.Nanoseconds histogram (SampleStats.Hist).
func ReadCompact(path string, hists bool) (*Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h *hist.Hist
	if hists {
		h = hist.MustNew(hist.Nanoseconds)
	}
	b, wake, err := strip(bufio.NewReaderSize(f, 1<<20), h)
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
			if k < len(wake) {
				r.Samples[j] = wake[k]
			}
			k++
		}
	}
	if k != len(wake) {
		return nil, fmt.Errorf("%s: not a ktstar result: %d reports but %d sample lists", path, k, len(wake))
	}
	return d, nil
}

// The reservoir fields, less their opening quote: the wake samples are
// summarised, the iteration costs dropped.
var (
	wakeKey = []byte(`wake_latencies_ns"`)
	costKey = []byte(`iteration_costs_ns"`)
	// bucketsKey holds a wake_stats histogram's buckets: dropped too
	// when no histograms are asked for (compare reads counts and maxima).
	bucketsKey = []byte(`buckets"`)
	// phaseKey holds a backdrop worker's phase slices, reservoirs and
	// all: dropped, as the rows stored with the run cover them.
	phaseKey = []byte(`phase_slices"`)
)

// strip copies the JSON from r without the array values of the
// reservoir fields (each becomes []) and returns the wake samples' stats
// in document order. A field name is one only where the byte before its
// quote (past white space) is '{' or ',': inside a string every quote is
// escaped.
func strip(r *bufio.Reader, h *hist.Hist) ([]byte, []SampleStats, error) {
	var out []byte
	var stats []SampleStats
	var buf []uint64
	for {
		chunk, err := r.ReadSlice('"')
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return out, stats, nil
		}
		if err != nil {
			return nil, nil, err
		}
		// out ends with a quote: is a reservoir field's name next?
		keys := [][]byte{wakeKey, costKey, phaseKey}
		if h == nil {
			keys = append(keys, bucketsKey)
		}
		var key []byte
		for _, k := range keys {
			if p, _ := r.Peek(len(k)); bytes.Equal(p, k) && memberName(out[:len(out)-1]) {
				key = k
			}
		}
		if key == nil {
			continue
		}
		name := string(key[:len(key)-1])
		r.Discard(len(key))
		out = append(out, key...)
		if err := expect(r, ':'); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, ':')
		if c, _ := peekNonSpace(r); c == 'n' {
			if name == "wake_latencies_ns" {
				stats = append(stats, SampleStats{})
			}
			continue // null: copied as it is
		}
		if err := expect(r, '['); err != nil {
			return nil, nil, fmt.Errorf("%s is not an array: %w", name, err)
		}
		if name == "buckets" || name == "phase_slices" {
			if err := skipArray(r); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, '[', ']')
			continue
		}
		buf = buf[:0]
		if err := parseUints(r, &buf); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, '[', ']')
		if name == "wake_latencies_ns" {
			stats = append(stats, summariseSamples(buf, h))
		}
	}
}

// memberName reports whether the quote that follows b opens a member
// name: the last byte of b past white space is '{' or ','.
func memberName(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// peekNonSpace skips white space and returns the next byte, unread.
func peekNonSpace(r *bufio.Reader) (byte, error) {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, eofEarly(err)
		}
		if !isSpace(c) {
			r.UnreadByte()
			return c, nil
		}
	}
}

// expect skips white space and consumes want.
func expect(r *bufio.Reader, want byte) error {
	c, err := peekNonSpace(r)
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("want %q, got %q", want, c)
	}
	r.Discard(1)
	return nil
}

func eofEarly(err error) error {
	if err == io.EOF {
		return errors.New("the JSON ends early (a truncated file?)")
	}
	return err
}

// parseUints parses comma-separated unsigned integers up to and
// including the closing ']', straight from r's buffer: reservoirs are
// most of a result's bytes.
func parseUints(r *bufio.Reader, out *[]uint64) error {
	var v uint64
	digits := 0 // of the number under way; -1 after one ended in white space
	comma := false
	for {
		if _, err := r.Peek(1); err != nil {
			return eofEarly(err)
		}
		b, _ := r.Peek(r.Buffered())
		for i, c := range b {
			if d := uint64(c - '0'); d <= 9 && digits >= 0 {
				// 19 digits always fit in 64 bits; past that, check.
				if digits >= 19 && v > (1<<64-1-d)/10 {
					return errors.New("a sample overflows 64 bits")
				}
				v = v*10 + d
				digits++
				continue
			}
			switch {
			case isSpace(c):
				if digits > 0 {
					*out = append(*out, v)
					v, digits = 0, -1
				}
			case c == ',' || c == ']':
				switch {
				case digits > 0:
					*out = append(*out, v)
				case digits == 0 && (comma || c == ','):
					return fmt.Errorf("want an unsigned integer, got %q", c)
				}
				v, digits, comma = 0, 0, c == ','
				if c == ']' {
					r.Discard(i + 1)
					return nil
				}
			case digits < 0:
				return fmt.Errorf("want ',' or ']', got %q", c)
			default:
				return fmt.Errorf("want an unsigned integer, got %q", c)
			}
		}
		r.Discard(len(b))
	}
}

// skipArray consumes the rest of an array whose opening '[' is read:
// nested arrays and objects up to the matching ']', strings included
// (a bracket inside one does not count).
func skipArray(r *bufio.Reader) error {
	depth, inString, escaped := 1, false, false
	for {
		c, err := r.ReadByte()
		if err != nil {
			return eofEarly(err)
		}
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth--; depth == 0 {
				return nil
			}
		}
	}
}

// summariseSamples computes s's SampleStats, with the histogram when h
// (a scratch histogram) is not nil; it reorders s.
func summariseSamples(s []uint64, h *hist.Hist) SampleStats {
	st := SampleStats{N: uint64(len(s))}
	if len(s) == 0 {
		return st
	}
	st.Min, st.Max = s[0], s[0]
	for _, v := range s {
		st.Min, st.Max = min(st.Min, v), max(st.Max, v)
	}
	if h != nil {
		h.Reset()
		for _, v := range s {
			h.Record(v)
		}
		sum := h.Summarize(nil)
		st.Hist = &sum
	}
	p, _ := stats.Percentiles([]float64{50, 90, 99, 99.9}, s)
	st.P50, st.P90, st.P99, st.P999 = p[0], p[1], p[2], p[3]
	return st
}
