package handover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// Forecast is the hand-over a reload now would start: the workers it would
// take (the current one, which the reload makes old, and the old ones
// already there) and each backend's sessions in them.
type Forecast struct {
	Workers  []WorkerForecast
	Backends []BackendForecast // sorted by name
}

// WorkerForecast is a worker the hand-over would take.
type WorkerForecast struct {
	Pid int64
	// Current is set for the worker of the loaded configuration.
	Current  bool
	Sessions int
}

// BackendForecast is a backend's share of the sessions.
type BackendForecast struct {
	Backend  string
	Sessions int
	// Rate is the sessions per second the hand-over closes at, once the
	// grace period ends (Options.Rates, else the default).
	Rate float64
	// Closing is how long closing them all would take at Rate: an upper
	// bound, as sessions that end by themselves need no closing.
	Closing time.Duration
}

// Predict counts the sessions a hand-over would take after a reload now,
// and closes nothing. Only opts' rates are used.
func Predict(ctx context.Context, m Master, opts Options) (Forecast, error) {
	procs, err := m.Procs(ctx)
	if err != nil {
		return Forecast{}, fmt.Errorf("handover: %w", err)
	}
	var f Forecast
	sessions := map[string]int{}
	for i, p := range append(slices.Clone(procs.Current), procs.Old...) {
		list, err := m.WorkerSessions(ctx, p.Pid)
		if errors.Is(err, haproxy.ErrNoSuchWorker) {
			continue // an old worker that has just exited
		}
		if err != nil {
			return Forecast{}, fmt.Errorf("handover: %w", err)
		}
		f.Workers = append(f.Workers, WorkerForecast{Pid: p.Pid, Current: i < len(procs.Current), Sessions: len(list)})
		for _, s := range list {
			sessions[s.Backend]++
		}
	}
	for b, n := range sessions {
		rate := opts.rate(b)
		f.Backends = append(f.Backends, BackendForecast{Backend: b, Sessions: n, Rate: rate,
			Closing: time.Duration(float64(n) / rate * float64(time.Second))})
	}
	slices.SortFunc(f.Backends, func(a, b BackendForecast) int { return strings.Compare(a.Backend, b.Backend) })
	return f, nil
}
