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
