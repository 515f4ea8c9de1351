package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// SetState sets backend/server's administrative state with client-native's
// SetServerState, then reads the state back: HAProxy may leave a server in
// maint (inherited from a tracked server, or a failed resolution) and
// answers some refusals with a severity client-native counts as success.
// A state that did not take wraps ErrNotApplied.
//
// Neither Drain nor Maint closes existing sessions.
func (c *Client) SetState(ctx context.Context, backend, server string, state AdminState) error {
	op := fmt.Sprintf("set %s/%s state %s", backend, server, strings.ToLower(string(state)))
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if _, err := ParseAdminState(string(state)); err != nil {
		return c.wrap(op, err)
	}
	err := c.call(ctx, func() error {
		return c.rt.SetServerState(backend, server, strings.ToLower(string(state)))
	})
	if err != nil {
		return c.wrap(op, typedError(err))
	}
	got, err := c.readBack(ctx, backend, server)
	if err != nil {
		return c.wrap(op, err)
	}
	if got.Admin != state {
		return c.wrap(op, fmt.Errorf("%w: the server is %s (%s) afterwards", ErrNotApplied, got.Admin, got.Flags))
	}
	return nil
}

// Health is a health status `set server B/S health` forces.
type Health string

// The health statuses.
const (
	HealthUp       Health = "up"
	HealthStopping Health = "stopping"
	HealthDown     Health = "down"
)

// SetHealth forces backend/server's health with client-native's
// SetServerHealth, as if its checks had just reported it; the checks go on
// and change it again. The operational state is read back (in MAINT a
// server is always DOWN, so forcing it up there is not applied).
func (c *Client) SetHealth(ctx context.Context, backend, server string, health Health) error {
	op := fmt.Sprintf("set %s/%s health %s", backend, server, health)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	var want []OpState
	switch health {
	case HealthUp:
		want = []OpState{Up, Starting}
	case HealthStopping:
		want = []OpState{Stopping}
	case HealthDown:
		want = []OpState{Down}
	default:
		return c.wrap(op, fmt.Errorf("unknown health %q (want up, stopping or down)", health))
	}
	err := c.call(ctx, func() error {
		return c.rt.SetServerHealth(backend, server, string(health))
	})
	if err != nil {
		return c.wrap(op, typedError(err))
	}
	got, err := c.readBack(ctx, backend, server)
	if err != nil {
		return c.wrap(op, err)
	}
	if !slices.Contains(want, got.State) {
		return c.wrap(op, fmt.Errorf("%w: the server is %s afterwards", ErrNotApplied, got.State))
	}
	return nil
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
func (c *Client) Readmit(ctx context.Context, backend, server string) error {
	s, err := c.Server(ctx, backend, server)
	if err != nil {
		return err
	}
	// With sessions, a forced down could cut them (on-marked-down
	// shutdown-sessions): leave the health alone.
	if s.Admin == Maint && s.Checked && s.Scur == 0 {
		if err := c.SetState(ctx, backend, server, Drain); err != nil {
			return err
		}
		if err := c.SetHealth(ctx, backend, server, HealthDown); err != nil {
			return err
		}
	}
	return c.SetState(ctx, backend, server, Ready)
}

// SetWeight sets backend/server's weight (0–256) with client-native's
// SetServerWeight and checks srv_uweight afterwards.
func (c *Client) SetWeight(ctx context.Context, backend, server string, weight int) error {
	op := fmt.Sprintf("set %s/%s weight %d", backend, server, weight)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if weight < 0 || weight > 256 {
		return c.wrap(op, fmt.Errorf("weight %d out of range 0-256", weight))
	}
	err := c.call(ctx, func() error {
		return c.rt.SetServerWeight(backend, server, strconv.Itoa(weight))
	})
	if err != nil {
		return c.wrap(op, typedError(err))
	}
	got, err := c.readBack(ctx, backend, server)
	if err != nil {
		return c.wrap(op, err)
	}
	if got.UserWeight != int64(weight) {
		return c.wrap(op, fmt.Errorf("%w: the weight is %d afterwards", ErrNotApplied, got.UserWeight))
	}
	return nil
}

// SetAddr points backend/server at addr:port with client-native's
// SetServerAddr and checks the address afterwards (HAProxy answers an
// invalid address with a severity [4] message that the library counts as
// success). Only IP addresses are accepted; port 0 keeps the port.
func (c *Client) SetAddr(ctx context.Context, backend, server string, addr netip.Addr, port int) error {
	op := fmt.Sprintf("set %s/%s addr %s port %d", backend, server, addr, port)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if !addr.IsValid() || port < 0 || port > 65535 {
		return c.wrap(op, fmt.Errorf("%w: address %s port %d", ErrInvalidName, addr, port))
	}
	err := c.call(ctx, func() error {
		return c.rt.SetServerAddr(backend, server, addr.String(), port)
	})
	if err != nil {
		return c.wrap(op, typedError(err))
	}
	got, err := c.readBack(ctx, backend, server)
	if err != nil {
		return c.wrap(op, err)
	}
	ap, perr := netip.ParseAddrPort(got.Addr)
	if perr != nil || ap.Addr().Unmap() != addr.Unmap() || port != 0 && int(ap.Port()) != port {
		return c.wrap(op, fmt.Errorf("%w: the address is %s afterwards", ErrNotApplied, got.Addr))
	}
	return nil
}

// readBack returns backend/server from `show servers state` alone, which is
// all a check after a change needs.
func (c *Client) readBack(ctx context.Context, backend, server string) (ServerStatus, error) {
	all, err := c.serversState(ctx, backend)
	if err != nil {
		return ServerStatus{}, fmt.Errorf("read back: %w", err)
	}
	s, err := Match(all, Ref{Backend: backend, Server: server})
	if err != nil {
		return ServerStatus{}, fmt.Errorf("read back: %w", err)
	}
	return s, nil
}
