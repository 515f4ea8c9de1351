package agent

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// convergenceBuckets are the upper bounds, in seconds, of the convergence
// histogram: from a runtime change that lands within milliseconds to a
// change that waited out a reload's rate limit.
var convergenceBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram counts durations in fixed buckets, for the Prometheus text
// format. The zero value is ready and safe for concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket of convergenceBuckets, not cumulative
	sum    float64
	n      uint64
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = make([]uint64, len(convergenceBuckets))
	}
	s := d.Seconds()
	for i, le := range convergenceBuckets {
		if s <= le {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.n++
}

// Count is how many durations were observed.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *Histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, le := range convergenceBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.n, name, h.sum, name, h.n)
}
