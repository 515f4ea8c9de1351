// Package static is the embedded discovery source: the servers written in
// wsctl.yaml.
package static

import (
	"context"
	"net"
	"strconv"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// SourceName tags snapshots from this source.
const SourceName = "static"

// Snapshot returns the servers of every backend in s as a snapshot. Each
// server's name is its instance id. The spec validated names and addresses
// (with discovery.ParseHost, so host names are allowed here); a server that
// still fails Instance.Validate is left out, and model.Build would refuse it
// anyway.
func Snapshot(s *spec.Spec) discovery.Snapshot {
	snap := discovery.Snapshot{Source: SourceName, Backends: map[string][]discovery.Instance{}}
	for _, b := range s.Backends {
		instances := make([]discovery.Instance, 0, len(b.Servers))
		for _, srv := range b.Servers {
			hostText, portText, err := net.SplitHostPort(srv.Address)
			if err != nil {
				continue
			}
			host, err := discovery.ParseHost(hostText)
			port, perr := strconv.ParseUint(portText, 10, 16)
			in := discovery.Instance{ID: srv.Name, Host: host, Port: uint16(port), Weight: srv.Weight, Healthy: true}
			if err != nil || perr != nil || in.Validate() != nil {
				continue
			}
			instances = append(instances, in)
		}
		snap.Backends[b.Name] = instances
	}
	return snap
}

// Source is the servers of a spec as a discovery.Source, so a consumer runs
// it like any other source. Create it with New.
type Source struct{ snap discovery.Snapshot }

var _ discovery.Source = (*Source)(nil)

// New returns the source of the servers of s's backends that are not
// discovered from Consul, taken now: a changed spec needs a new source.
// Backends with Consul set are left to the Consul source, so each backend
// is reported by one source.
func New(s *spec.Spec) *Source {
	snap := Snapshot(s)
	for _, b := range s.Backends {
		if b.Consul != nil {
			delete(snap.Backends, b.Name)
		}
	}
	return &Source{snap: snap}
}

// Run sends the spec's snapshot once, then waits for ctx to end, and
// returns nil. The spec never changes under it, so it has nothing more to
// send.
func (s *Source) Run(ctx context.Context, out chan<- discovery.Snapshot) error {
	select {
	case out <- s.snap:
	case <-ctx.Done():
		return nil
	}
	<-ctx.Done()
	return nil
}
