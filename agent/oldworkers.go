package agent

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The gauges of the old workers a hand-over watches, and of the agent's
// drains: what alerting rules need to tell "in progress" from "stuck".
var (
	oldWorkerSessionsDesc = prometheus.NewDesc("wsctl_agent_old_worker_sessions",
		"WebSockets an old HAProxy worker still held at the hand-over's last count, by worker pid.", []string{"worker"}, nil)
	oldWorkerHandoverDesc = prometheus.NewDesc("wsctl_agent_old_worker_handover_timestamp_seconds",
		"When the hand-over began (or begins) closing the old worker's WebSockets: its reload plus handover_after.", []string{"worker"}, nil)
	drainDeadlineDesc = prometheus.NewDesc("wsctl_agent_drain_deadline_timestamp_seconds",
		"When a drain the agent runs passes its backend's drain_timeout (then the sessions left are closed at close_rate).", []string{"backend", "server"}, nil)
)

// oldWorker is what the last count of a hand-over said about one worker.
type oldWorker struct {
	sessions int
	// handover is when closing began; expires when hard-stop-after has
	// certainly ended the worker.
	handover, expires time.Time
}

// progressGauges holds the old workers and drains for scraping: the
// hand-over reports from its own goroutine, the loop sets the drains, a
// scrape reads both.
type progressGauges struct {
	mu      sync.Mutex
	workers map[int64]oldWorker
	drains  map[[2]string]time.Time // backend, server → deadline
}

// workerCounted records a hand-over's count of worker pid. A worker an
// earlier reload's hand-over already watched keeps its first times.
func (g *progressGauges) workerCounted(pid int64, sessions int, handover, expires time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.workers == nil {
		g.workers = map[int64]oldWorker{}
	}
	if w, ok := g.workers[pid]; ok {
		handover, expires = w.handover, w.expires
	}
	g.workers[pid] = oldWorker{sessions: sessions, handover: handover, expires: expires}
}

// workerExited forgets a worker that is gone. One whose hand-over failed or
// timed out stays, still holding its last count, until hard-stop-after.
func (g *progressGauges) workerExited(pid int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.workers, pid)
}

// setDrains replaces the drains in progress.
func (g *progressGauges) setDrains(deadlines map[[2]string]time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.drains = deadlines
}

func (g *progressGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- oldWorkerSessionsDesc
	ch <- oldWorkerHandoverDesc
	ch <- drainDeadlineDesc
}

func (g *progressGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for pid, w := range g.workers {
		if now.After(w.expires) {
			delete(g.workers, pid)
			continue
		}
		id := strconv.FormatInt(pid, 10)
		ch <- prometheus.MustNewConstMetric(oldWorkerSessionsDesc, prometheus.GaugeValue, float64(w.sessions), id)
		ch <- prometheus.MustNewConstMetric(oldWorkerHandoverDesc, prometheus.GaugeValue, unixSeconds(w.handover), id)
	}
	for ref, deadline := range g.drains {
		ch <- prometheus.MustNewConstMetric(drainDeadlineDesc, prometheus.GaugeValue, unixSeconds(deadline), ref[0], ref[1])
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
