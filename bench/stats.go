package main

import (
	"math"
	"slices"
)

// percentile is the nearest-rank percentile of sorted v (the C references
// use the same rule): the smallest value with at least p% of samples at or
// below it.
func percentile(v []uint64, p float64) uint64 {
	if len(v) == 0 {
		return 0
	}
	k := int(math.Ceil(p / 100 * float64(len(v))))
	return v[min(max(k, 1), len(v))-1]
}

// spread is the min, median and max of one figure over the pairs.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// spreadOf summarises vs; the median of an even count is the mean of the
// middle two.
func spreadOf(vs []float64) spread {
	if len(vs) == 0 {
		return spread{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{Min: s[0], Median: med, Max: s[n-1]}
}
