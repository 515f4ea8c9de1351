package haproxy

import (
	"context"
	"net/netip"
)

// SetState sets backend/server's administrative state with `set server
// state`, then reads the state back: HAProxy may leave a server in maint
// (inherited from a tracked server, or a failed resolution) and answers
// some refusals with a mere warning. A state that did not take wraps
// ErrNotApplied.
//
// Neither Drain nor Maint closes existing sessions.
func (c *Client) SetState(ctx context.Context, backend, server string, state AdminState) error {
	return c.applyOne(ctx, Change{Kind: ChangeState, Backend: backend, Server: server, State: state})
}

// Health is a health status `set server B/S health` forces.
type Health string

// The health statuses.
const (
	HealthUp       Health = "up"
	HealthStopping Health = "stopping"
	HealthDown     Health = "down"
)

// SetHealth forces backend/server's health with `set server health`, as if
// its checks had just reported it; the checks go on and change it again.
// The operational state is read back (in MAINT a server is always DOWN, so
// forcing it up there is not applied).
func (c *Client) SetHealth(ctx context.Context, backend, server string, health Health) error {
	return c.applyOne(ctx, Change{Kind: ChangeHealth, Backend: backend, Server: server, Health: health})
}

// Readmit sets backend/server READY so that new clients reach it only once
// a fresh health check has passed. Leaving MAINT, HAProxy counts a checked
// server as up at once, on the health it had before the maintenance, and
// would send clients to an instance that may not listen yet (leastconn
// sends every new client to the emptiest server: this one). So a checked
// server without sessions comes back through DRAIN (no new clients) and a
// forced health down, then READY: it is DOWN until its checks pass `rise`
// times, then UP, with the config's slowstart. Other servers are simply set
// READY.
// The agent's readmissions are the same change (ChangeReadmit).
func (c *Client) Readmit(ctx context.Context, backend, server string) error {
	s, err := c.Server(ctx, backend, server)
	if err != nil {
		return err
	}
	return c.Apply(ctx, []Change{{Kind: ChangeReadmit, Backend: backend, Server: server, ID: s.ID, Checked: s.Checked, State: s.Admin}})[0]
}

// readmitChanges are the changes that readmit s, as HAProxy has it, as
// Readmit describes.
func readmitChanges(s ServerStatus) []Change {
	ready := Change{Kind: ChangeState, Backend: s.Backend, Server: s.Server, State: Ready}
	// With sessions, a forced down could cut them (on-marked-down
	// shutdown-sessions): leave the health alone.
	if s.Admin != Maint || !s.Checked || s.Scur > 0 {
		return []Change{ready}
	}
	return []Change{
		{Kind: ChangeState, Backend: s.Backend, Server: s.Server, State: Drain},
		{Kind: ChangeHealth, Backend: s.Backend, Server: s.Server, Health: HealthDown},
		ready,
	}
}

// SetWeight sets backend/server's weight (0–256) with `set server weight`
// and checks srv_uweight afterwards.
func (c *Client) SetWeight(ctx context.Context, backend, server string, weight int) error {
	return c.applyOne(ctx, Change{Kind: ChangeWeight, Backend: backend, Server: server, Weight: weight})
}

// SetAddr points backend/server at addr:port with `set server addr` and
// checks the address afterwards (HAProxy answers an invalid address with a
// mere warning). Only IP addresses without an IPv6 zone are accepted (a
// zone wraps ErrInvalidName); port 0 keeps the port.
func (c *Client) SetAddr(ctx context.Context, backend, server string, addr netip.Addr, port int) error {
	return c.applyOne(ctx, Change{Kind: ChangeAddr, Backend: backend, Server: server, Addr: addr, Port: port})
}

// applyOne is Apply for a single change: one connection for the command
// and its read-back.
func (c *Client) applyOne(ctx context.Context, ch Change) error {
	return c.Apply(ctx, []Change{ch})[0]
}
