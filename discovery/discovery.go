// Package discovery defines what service discovery produces: complete
// snapshots of the instances behind each backend. Sources (static, consul)
// live in subpackages and push whole snapshots, never deltas, so a consumer
// can compare two snapshots and drop an unchanged one.
package discovery

import "context"

// Instance is one server instance of a backend.
type Instance struct {
	// ID identifies the instance across snapshots; server names derive from it.
	ID      string
	Address string // IP or host name
	Port    int
	Weight  int // 0: the backend's default
	// Healthy is false for an instance discovery knows is failing; it is kept
	// so it can be drained rather than cut.
	Healthy bool
	Tags    []string
	Meta    map[string]string
}

// Snapshot is every backend's instances at one moment, keyed by backend name.
type Snapshot struct {
	Source   string // which source produced it ("static", "consul")
	Backends map[string][]Instance
}

// Source produces snapshots until ctx ends. It sends the first snapshot as
// soon as it has one and then one for every change; it does not debounce.
type Source interface {
	Run(ctx context.Context, out chan<- Snapshot) error
}
