package loadgen

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff between reconnects: exponential with full jitter, so clients cut
// at the same instant don't come back at the same instant.
const (
	backoffBase = 100 * time.Millisecond
	backoffCap  = 5 * time.Second
)

// closeWait is how long a closing client waits for the peer to answer its
// close frame before it cuts the connection.
const closeWait = time.Second

// Run performs one load run described by cfg and returns what it measured.
// It returns an error only for an invalid cfg: drops and failed handshakes
// are results, not errors.
//
// The run also ends early when every client has finished, which happens
// without Reconnect once every connection failed or was dropped.
//
// Cancelling ctx ends the run early and cleanly, as if Duration had passed
// and the grace was over: every connection is closed with 1000 and
// Result.Interrupted is set. Run returns once every client has finished.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	r := &runner{cfg: cfg, log: log, stats: newCollector(start), ending: make(chan struct{})}
	var cancelStop, cancelGrace context.CancelFunc
	r.stop, cancelStop = context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancelStop()
	r.grace, cancelGrace = context.WithDeadline(ctx, start.Add(cfg.Duration+cfg.Grace))
	defer cancelGrace()

	log.Info("run started", "url", cfg.URL, "conns", cfg.Conns, "rate", cfg.Rate, "duration", cfg.Duration)
	var clients sync.WaitGroup
	r.launch(start, &clients)
	finished := make(chan struct{})
	go func() {
		clients.Wait()
		close(finished)
	}()
	select {
	case <-r.stop.Done():
	case <-finished: // every client gave up: nothing left to hold
	}
	perServer := r.stats.perServer()
	log.Info("closing", "per_server", perServer)
	close(r.ending)
	<-finished

	res := r.stats.result()
	res.PerServer = perServer
	res.DurationMs = time.Since(start).Milliseconds()
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// runner is the state one run's clients share.
type runner struct {
	cfg   Config
	log   *slog.Logger
	stats *collector
	// stop ends at Duration: no new dials.
	stop context.Context
	// ending is closed once per_server is taken after stop: connections
	// then stop sending and close. Waiting for it keeps a quick close from
	// missing the count.
	ending chan struct{}
	// grace ends Grace later: in-flight echoes are no longer awaited.
	grace context.Context
}

// launch starts the clients at cfg.Rate, each at its own instant counted
// from start so that slow starts don't stretch the ramp.
func (r *runner) launch(start time.Time, clients *sync.WaitGroup) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range r.cfg.Conns {
		if wait := time.Until(start.Add(r.cfg.startAt(i))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-r.stop.Done():
				return
			case <-timer.C:
			}
		}
		clients.Go(func() { r.client(i) })
	}
}

// sleep waits d unless the run stops first, and reports whether it may go on.
func (r *runner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.stop.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is the wait before reconnect attempt n (0 right after a drop):
// uniform in [0, min(cap, base·2ⁿ)).
func backoff(n int) time.Duration {
	ceiling := backoffBase
	for range n {
		if ceiling >= backoffCap/2 {
			ceiling = backoffCap
			break
		}
		ceiling *= 2
	}
	return rand.N(ceiling)
}
