package rollout

import (
	"cmp"
	"fmt"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/rebalance"
	"github.com/wsctl/wsctl/spec"
)

// Flags are what the operator asks of a rollout (wsctl rollout's flags);
// OptionsFor completes them with the spec.
type Flags struct {
	// Timeout, CloseAfter and CloseRate drain each server as wsctl drain
	// does; CloseRate nil takes the backend's close_rate.
	Timeout     time.Duration
	CloseAfter  time.Duration
	CloseRate   *float64
	WaitHealthy time.Duration
	Surge       string
	// MaxPerServer is the per-server ceiling; -1 takes the spec's
	// server_maxconn.
	MaxPerServer   int64
	MaxUnavailable int
	// State is the state file; "" takes DefaultStatePath.
	State string
	// Force and Next are the drain's and Options' own.
	Force bool
	Next  bool
	// Poll is how often sessions and health are read; 0: the defaults.
	Poll time.Duration
	// Rebalance evens out the backend after the last server.
	Rebalance bool
	// Sockets says admin sockets were named, AllowMissing that the rollout
	// may go on when an agent stops reporting: each fits one side only.
	Sockets, AllowMissing bool
}

// OptionsFor turns f into the options of a rollout of backend b of spec s,
// refusing what b's discovery rules out: a backend Consul discovers is
// rolled through the agents (no sockets, no surge yet), any other through
// the admin sockets (no missing agents to allow). The caller adds Target,
// Deploy, Step, Note and the drain's Progress.
func OptionsFor(s *spec.Spec, b spec.Backend, f Flags) (Options, error) {
	switch {
	case b.Consul == nil && f.AllowMissing:
		return Options{}, fmt.Errorf("--allow-missing: backend %s is not discovered from Consul: its rollout uses the local admin sockets, not the fleet", b.Name)
	case b.Consul != nil && f.Sockets:
		return Options{}, fmt.Errorf("backend %s is discovered from Consul: its rollout goes through the wsctl agents of every load balancer, not --socket", b.Name)
	case b.Consul != nil && f.Surge != "":
		return Options{}, fmt.Errorf("--surge: backend %s is discovered from Consul: a surge server across the fleet is not supported yet", b.Name)
	}
	rate := b.CloseRate
	if f.CloseRate != nil {
		rate = *f.CloseRate
	}
	ceiling := f.MaxPerServer
	if ceiling < 0 {
		ceiling = int64(b.ServerMaxConn)
	}
	o := Options{
		Backend:        b.Name,
		Drain:          drain.Options{Timeout: f.Timeout, Poll: f.Poll, Force: f.Force, Close: &drain.Close{After: f.CloseAfter, Rate: rate}},
		Next:           f.Next,
		WaitHealthy:    f.WaitHealthy,
		Ceiling:        ceiling,
		MaxUnavailable: f.MaxUnavailable,
		Surge:          f.Surge,
		StatePath:      cmp.Or(f.State, DefaultStatePath(s, b.Name)),
	}
	if f.Rebalance {
		// A rebalance is always paced: a drain's 0 (close at once) takes
		// the backend's rate.
		o.Rebalance = &rebalance.Options{Cap: int64(b.ServerMaxConn), Rate: cmp.Or(rate, b.CloseRate), Timeout: f.Timeout, Poll: f.Poll}
	}
	if err := o.Drain.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}
