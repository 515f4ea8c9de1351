package agent

import (
	"context"
	"time"

	"github.com/wsctl/wsctl/handover"
)

// handoverResult is what a hand-over reports back to the loop; gen tells
// the current run from one a later reload replaced.
type handoverResult struct {
	gen int
	res handover.Result
	err error
}

// startHandover closes, after the spec's haproxy.handover_after, the
// sessions the old workers still hold, at each backend's close_rate, in the
// background: the clients move to the new worker spread over time instead
// of all at once at hard-stop-after. A hand-over still running from an
// earlier reload is replaced by one that takes every old worker, so the
// backends' rates hold across all of them.
func (a *Agent) startHandover() {
	if a.handoverCancel != nil {
		a.handoverCancel()
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	a.handoverCancel = cancel
	a.handoverGen++
	gen, master := a.handoverGen, a.spec.HAProxy.MasterSocket
	opts := handover.SpecOptions(a.spec)
	reloaded := time.Now()
	closeFrom, gone := reloaded.Add(opts.After), reloaded.Add(opts.Timeout)
	opts.Progress = func(p handover.Progress) {
		a.metrics.progress.workerCounted(p.Worker, p.Left, closeFrom, gone)
	}
	a.wg.Go(func() {
		defer cancel()
		res, err := a.edges.handover(ctx, master, opts)
		select {
		case a.handoverResults <- handoverResult{gen: gen, res: res, err: err}:
		case <-a.runCtx.Done():
		}
	})
}

// handoverEnded logs a hand-over's end and counts what it closed.
func (a *Agent) handoverEnded(r handoverResult) {
	if r.gen == a.handoverGen {
		a.handoverCancel = nil
	}
	closed := 0
	for _, rep := range r.res.Reports {
		closed += rep.Closed
		if rep.Outcome == handover.Exited {
			a.metrics.progress.workerExited(rep.Worker)
		}
	}
	a.metrics.HandoverClosed.Add(uint64(closed))
	switch out := r.res.Outcome(); {
	case r.err != nil:
		a.log.Error("hand-over", "err", r.err)
	case out == handover.Exited:
		a.log.Info("old workers handed over", "workers", len(r.res.Reports), "closed", closed)
	case out == handover.Canceled:
		a.log.Info("hand-over replaced by a later reload's", "closed", closed)
	default:
		a.log.Error("hand-over", "outcome", out, "closed", closed, "err", r.res.Err())
	}
}
