// Package static is the embedded discovery source: the servers written in
// wsctl.yaml.
package static

import (
	"net"
	"strconv"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/spec"
)

// SourceName tags snapshots from this source.
const SourceName = "static"

// Snapshot returns the servers of every backend in s as a snapshot. Each
// server's name is its instance id. Addresses were validated by spec.
func Snapshot(s *spec.Spec) discovery.Snapshot {
	snap := discovery.Snapshot{Source: SourceName, Backends: map[string][]discovery.Instance{}}
	for _, b := range s.Backends {
		instances := make([]discovery.Instance, 0, len(b.Servers))
		for _, srv := range b.Servers {
			host, port, _ := net.SplitHostPort(srv.Address)
			p, _ := strconv.Atoi(port)
			instances = append(instances, discovery.Instance{ID: srv.Name, Address: host, Port: p, Weight: srv.Weight, Healthy: true})
		}
		snap.Backends[b.Name] = instances
	}
	return snap
}
