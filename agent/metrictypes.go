package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// convergenceBuckets are the upper bounds, in seconds, of the convergence
// histogram: from a runtime change that lands within milliseconds to a
// change that waited out a reload's rate limit.
var convergenceBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// runtimeBuckets are those of the runtime histogram: a change reaches
// HAProxy's runtime API in milliseconds, before the files are written.
var runtimeBuckets = []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Histogram is a Prometheus histogram of durations whose count can be read.
type Histogram struct{ h prometheus.Histogram }

// Observe adds one duration.
func (h Histogram) Observe(d time.Duration) { h.h.Observe(d.Seconds()) }

// Count is how many durations were observed.
func (h Histogram) Count() uint64 {
	var m dto.Metric
	_ = h.h.Write(&m)
	return m.GetHistogram().GetSampleCount()
}

// Sum is the total of the durations observed.
func (h Histogram) Sum() time.Duration {
	var m dto.Metric
	_ = h.h.Write(&m)
	return time.Duration(m.GetHistogram().GetSampleSum() * float64(time.Second))
}

// Counter is a Prometheus counter whose value can be read.
type Counter struct{ c prometheus.Counter }

// Add adds n.
func (c Counter) Add(n uint64) { c.c.Add(float64(n)) }

// Load is the value.
func (c Counter) Load() uint64 { return load(c.c) }

// counterVec is a Prometheus counter with labels whose values can be read.
type counterVec struct{ v *prometheus.CounterVec }

// Load is the sum over every label value.
func (c counterVec) Load() uint64 {
	ch := make(chan prometheus.Metric)
	go func() { c.v.Collect(ch); close(ch) }()
	var sum uint64
	for m := range ch {
		sum += load(m)
	}
	return sum
}

// OpCounter counts by backend and operation: its signature, not a
// variadic list, makes a call with the wrong labels a compile error
// instead of a panic at run time.
type OpCounter struct{ counterVec }

// Add adds n to the counter of backend and op.
func (c OpCounter) Add(n uint64, backend, op string) {
	c.v.WithLabelValues(backend, op).Add(float64(n))
}

// Value is the counter of backend and op (0 if never added to; the series
// then appears with 0).
func (c OpCounter) Value(backend, op string) uint64 { return load(c.v.WithLabelValues(backend, op)) }

// BackendCounter counts by backend.
type BackendCounter struct{ counterVec }

// Add adds n to the counter of backend.
func (c BackendCounter) Add(n uint64, backend string) { c.v.WithLabelValues(backend).Add(float64(n)) }

// Value is the counter of backend.
func (c BackendCounter) Value(backend string) uint64 { return load(c.v.WithLabelValues(backend)) }

// load reads a counter's value.
func load(m prometheus.Metric) uint64 {
	var d dto.Metric
	_ = m.Write(&d)
	return uint64(d.GetCounter().GetValue())
}
