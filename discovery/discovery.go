// Package discovery defines what service discovery produces: complete
// snapshots of the instances behind each backend. Sources (static, consul)
// live in subpackages and push whole snapshots, never deltas, so a consumer
// can compare two snapshots and drop an unchanged one.
//
// Discovery input is hostile: anyone who can register a service in Consul
// writes it. An Instance therefore holds only validated values (a Host that
// is an IP address or a host name, a port, a name fit for configs and
// runtime commands, a weight) and nothing a source does not need; sources
// check every instance with Validate and leave a bad one out on its own.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Instance is one server instance of a backend.
type Instance struct {
	// ID identifies the instance across snapshots; the server name is the
	// ID. It matches NamePattern.
	ID   string
	Host Host
	Port uint16 // 1–65535
	// Weight is 1–256, or 0 for the backend's default.
	Weight int
	// Healthy is false for an instance discovery knows is failing; it is kept
	// so it can be drained rather than cut.
	Healthy bool
}

// Addr returns "host:port".
func (in Instance) Addr() string { return in.Host.JoinPort(in.Port) }

// NamePattern is the shape of every instance ID: a server name that HAProxy,
// nginx and the runtime socket all take as one plain word.
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$`)

// MaxWeight is the highest weight an instance may carry (HAProxy's limit).
const MaxWeight = 256

// ErrInvalidInstance is wrapped by Validate's errors.
var ErrInvalidInstance = errors.New("invalid instance")

// Validate reports why in cannot become a server, or nil.
func (in Instance) Validate() error {
	switch {
	case !NamePattern.MatchString(in.ID):
		return fmt.Errorf("%w: id %s: want a letter or digit, then letters, digits and _ . : - (at most 63)", ErrInvalidInstance, quote(in.ID))
	case !in.Host.IsValid():
		return fmt.Errorf("%w: %s: no valid address", ErrInvalidInstance, in.ID)
	case in.Port == 0:
		return fmt.Errorf("%w: %s: port 0", ErrInvalidInstance, in.ID)
	case in.Weight < 0 || in.Weight > MaxWeight:
		return fmt.Errorf("%w: %s: weight %d out of 0-%d", ErrInvalidInstance, in.ID, in.Weight, MaxWeight)
	}
	return nil
}

// Snapshot is every backend's instances at one moment, keyed by backend name.
type Snapshot struct {
	Source   string // which source produced it ("static", "consul")
	Backends map[string][]Instance
	// Arrived is when the oldest answer this snapshot carries that its
	// predecessor did not came in (Consul's, read whole, not decoded); zero
	// when the source cannot tell. The agent's convergence is measured
	// from it, so its own cost, decoding included, is counted.
	Arrived time.Time
}

// Source produces snapshots until ctx ends. It sends the first snapshot as
// soon as it has one and then one for every change; it does not debounce.
type Source interface {
	Run(ctx context.Context, out chan<- Snapshot) error
}
