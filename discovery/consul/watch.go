package consul

import (
	"context"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// Retry and rate-limit defaults.
const (
	// DefaultRetryBase and DefaultRetryMax bound the backoff after a failed
	// query: full jitter, a random wait in [0, min(max, base·2^(n-1))) after
	// the n-th failure in a row, so many agents don't hit a recovering
	// Consul in step.
	DefaultRetryBase = 250 * time.Millisecond
	DefaultRetryMax  = 30 * time.Second
	// DefaultMinInterval is the least time between two queries of one
	// service when the index did not advance (a timeout, a spurious wakeup,
	// an index that went backwards): Consul's blocking-query rules ask
	// clients to rate-limit, and this keeps a misbehaving index from turning
	// into a busy loop. A change (advancing index) is queried again at once.
	DefaultMinInterval = time.Second
	// queryMargin is how long a query may take beyond its wait time.
	queryMargin = 30 * time.Second
)

// watch is one backend's Consul query.
type watch struct {
	backend string
	svc     spec.ConsulService
}

// update is one backend's instances, sent by its watcher to Run's loop,
// and when the answer that carried them arrived.
type update struct {
	backend   string
	instances []discovery.Instance
	arrived   time.Time
}

// follow runs blocking queries for w until ctx ends and sends its instances
// on updates: once after the first answer, then whenever they change.
func (s *Source) follow(ctx context.Context, w watch, updates chan<- update) {
	log := s.log.With("backend", w.backend, "service", w.svc.Service)
	var (
		index    uint64
		last     []discovery.Instance
		answered bool
		failures int
		// ans is the last answer, so the next is decoded only where it
		// differs.
		ans answer
		// spare is a buffer ans does not hold, for the next answer.
		spare []byte
	)
	for {
		start := time.Now()
		body, same, meta, err := s.query(ctx, w, index, spare, ans.body)
		var cands []candidate
		if err == nil {
			before := ans.body
			cands, err = ans.update(body, same, w.svc)
			spare = ans.spare(before, body)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			s.stats.errors.Add(1)
			s.stats.failing[w.backend].failed(err)
			// The agent may come back with a lower index (a restarted dev
			// agent, a rebuilt cluster): block on nothing next time.
			index = 0
			wait := backoff(failures, s.retryBase, s.retryMax)
			log.Warn("query failed", "consul", s.addr, "failures", failures, "retry_in", wait.Round(time.Millisecond), "err", err)
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		s.stats.lastSuccess.Store(time.Now().UnixNano())
		s.stats.failing[w.backend].succeeded()
		if failures > 0 {
			log.Info("query recovered", "consul", s.addr, "failures", failures)
			failures = 0
		}
		instances, rejected := nameCandidates(cands, log)
		s.stats.rejected[w.backend].Store(int64(rejected))
		if !answered || !equalInstances(last, instances) {
			select {
			case updates <- update{backend: w.backend, instances: instances, arrived: start.Add(meta.RequestTime)}:
			case <-ctx.Done():
				return
			}
			// The loop that takes the update runs next on this thread:
			// it would wait for this goroutine to send its next query
			// first (~0.2 ms on a loaded machine, in the path of every
			// registration), the other thread being busy.
			runtime.Gosched()
			answered, last = true, instances
		}
		log.Debug("answer", "index", index, "last_index", meta.LastIndex, "instances", len(instances), "decoded", ans.decoded, "took", time.Since(start))
		next, advanced := nextIndex(index, meta.LastIndex)
		index = next
		if !advanced && !sleep(ctx, s.minInterval-time.Since(start)) {
			return
		}
	}
}

// query asks for every instance of w's service (passing or not: toInstances
// decides what healthy means), blocking until the index passes index or the
// wait time ends, and returns the answer's body, read into buf, and how
// long a prefix it shares with old (fetch). index 0 answers at once.
func (s *Source) query(ctx context.Context, w watch, index uint64, buf, old []byte) ([]byte, int, *api.QueryMeta, error) {
	// A server that has not answered after the wait time, Consul's jitter
	// of up to WaitTime/16 and a margin is hung, not blocking.
	timeout := queryMargin
	if index > 0 {
		timeout += s.waitTime + s.waitTime/16
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.stats.queries.Add(1)
	q := queryOptions(ctx, w.svc, s.stale)
	q.WaitIndex, q.WaitTime = index, s.waitTime
	return s.health.fetch(w.svc, q, buf, old)
}

// queryOptions are the options every query of svc carries.
func queryOptions(ctx context.Context, svc spec.ConsulService, stale bool) *api.QueryOptions {
	q := &api.QueryOptions{AllowStale: stale, Datacenter: svc.Datacenter}
	return q.WithContext(ctx)
}

// nextIndex applies Consul's blocking-query rules to the index an answer
// carried (got) after a query at prev. It returns the index for the next
// query and whether it advanced. An index that goes backwards resets to 0
// (answer at once with the current state, then block from there); 0 from
// the server becomes 1 so the next query blocks.
func nextIndex(prev, got uint64) (next uint64, advanced bool) {
	switch {
	case got < prev:
		return 0, false
	case got == 0:
		return 1, false
	default:
		return got, got > prev
	}
}

// backoff is the wait after the n-th failure in a row (n ≥ 1): full jitter
// over min(limit, base·2^(n-1)).
func backoff(n int, base, limit time.Duration) time.Duration {
	ceiling := limit
	if n < 1 {
		n = 1
	}
	if n < 32 {
		if d := base << (n - 1); d > 0 && d < limit {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// sleep waits for d (nothing when d ≤ 0) and reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
