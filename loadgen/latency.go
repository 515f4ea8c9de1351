package loadgen

import (
	"math"
	"time"
)

// latencyGrowth is the width of a histogram bucket relative to its lower
// bound: quantiles come out within 1%.
const latencyGrowth = 1.01

// latencies is a histogram of echo round trips. A long run at a short
// interval sends hundreds of millions of echoes; buckets growing by 1% keep
// the quantiles precise in a few kilobytes instead of a sample per echo.
// Bucket 0 holds everything under a microsecond; bucket i > 0 holds
// [latencyGrowth^(i-1), latencyGrowth^i) microseconds.
type latencies struct {
	counts []uint64
	n      uint64
}

func (h *latencies) add(d time.Duration) {
	i := latencyBucket(d)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.n++
}

func latencyBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return int(math.Log(us)/math.Log(latencyGrowth)) + 1
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q ≤ 1), or 0 without samples.
func (h *latencies) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(math.Pow(latencyGrowth, float64(i)) * float64(time.Microsecond))
		}
	}
	return 0 // unreachable: the counts add up to n
}

// millis converts d to milliseconds rounded to the microsecond, for JSON.
func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
