// Package stats computes summary statistics over sets of samples (wake
// latencies held as uint64 nanoseconds, or any float64 data) spread over
// several slices, without copying them except where an order statistic
// needs it. Percentiles are nearest-rank, as in ktstr's checks: every
// percentile is an observed sample, and a script's p99 is the check's p99.
package stats

import (
	"fmt"
	"math"
	"slices"
)

// Number is the sample type: integer counts and durations, or floats.
type Number interface{ ~uint64 | ~float64 }

// Count returns the number of samples in all slices.
func Count[T Number](sets ...[]T) int {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	return n
}

// Sum returns the sum of all samples, as a float64 so it cannot overflow.
func Sum[T Number](sets ...[]T) float64 {
	var sum float64
	for _, s := range sets {
		for _, v := range s {
			sum += float64(v)
		}
	}
	return sum
}

// Mean returns the arithmetic mean, or NaN without samples.
func Mean[T Number](sets ...[]T) float64 {
	n := Count(sets...)
	if n == 0 {
		return math.NaN()
	}
	return Sum(sets...) / float64(n)
}

// Stdev returns the population standard deviation, or NaN without samples.
func Stdev[T Number](sets ...[]T) float64 {
	n := Count(sets...)
	if n == 0 {
		return math.NaN()
	}
	mean := Mean(sets...)
	var ss float64
	for _, s := range sets {
		for _, v := range s {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return math.Sqrt(ss / float64(n))
}

// CV returns the coefficient of variation (population stdev / mean), or NaN
// when there are fewer than two samples or the mean is 0.
func CV[T Number](sets ...[]T) float64 {
	if Count(sets...) < 2 {
		return math.NaN()
	}
	mean := Mean(sets...)
	if mean == 0 {
		return math.NaN()
	}
	return Stdev(sets...) / mean
}

// Min returns the smallest sample; ok is false without samples.
func Min[T Number](sets ...[]T) (v T, ok bool) {
	for _, s := range sets {
		for _, x := range s {
			if !ok || x < v {
				v, ok = x, true
			}
		}
	}
	return v, ok
}

// Max returns the largest sample; ok is false without samples.
func Max[T Number](sets ...[]T) (v T, ok bool) {
	for _, s := range sets {
		for _, x := range s {
			if !ok || x > v {
				v, ok = x, true
			}
		}
	}
	return v, ok
}

// RankIndex is the nearest-rank index of percentile p (0..100) among n
// sorted samples: ceil(n·p/100) − 1, clamped to [0, n−1]. This is ktstr's
// rule, so p99 of 100 samples is the 99th smallest.
func RankIndex(n int, p float64) int {
	i := int(math.Ceil(float64(n)*p/100)) - 1
	return min(max(i, 0), n-1)
}

// Percentiles returns the nearest-rank percentiles ps (each 0..100) of all
// samples, in the order asked. It copies the samples once and selects each
// rank in linear expected time instead of sorting.
func Percentiles[T Number](ps []float64, sets ...[]T) ([]T, error) {
	for _, p := range ps {
		if !(p >= 0 && p <= 100) {
			return nil, fmt.Errorf("percentile %v is out of range (allowed: 0..100)", p)
		}
	}
	n := Count(sets...)
	if n == 0 {
		return nil, fmt.Errorf("percentile of no samples")
	}
	all := make([]T, 0, n)
	for _, s := range sets {
		all = append(all, s...)
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return RankIndex(n, ps[a]) - RankIndex(n, ps[b]) })
	out := make([]T, len(ps))
	lo := 0
	for _, i := range order {
		k := RankIndex(n, ps[i])
		// Ranks come in ascending order, so everything below lo is
		// already no larger than the k-th element.
		out[i] = selectK(all[lo:], k-lo)
		lo = k
	}
	return out, nil
}

// Percentile returns one nearest-rank percentile of all samples.
func Percentile[T Number](p float64, sets ...[]T) (T, error) {
	v, err := Percentiles([]float64{p}, sets...)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// selectK partially orders a so that a[k] is its k-th smallest element
// (Hoare's quickselect with a median-of-three pivot) and returns it.
func selectK[T Number](a []T, k int) T {
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
			for a[j] > pivot {
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
			return a[k]
		}
	}
	return a[k]
}
