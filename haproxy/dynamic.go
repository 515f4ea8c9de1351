package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// ServerOptions are the keywords `add server` gives a dynamic server. A
// dynamic server does not inherit the backend's default-server line, so
// everything it needs is spelt out here.
type ServerOptions struct {
	// Check enables health checks with Inter, Fall and Rise (zero values
	// leave HAProxy's defaults). Checks start disabled; call EnableHealth.
	Check      bool
	Inter      string // HAProxy duration, e.g. "5s"
	Fall, Rise int
	Weight     int // 0: HAProxy's default (1)
	// Cookie is the server's sticky cookie value ("": none). HAProxy 2.6
	// refuses it on `add server`; it needs CookieFrom (3.0).
	Cookie    string
	Slowstart string // HAProxy duration ("": none)
	MaxConn   int    // 0: no cap
}

var durationPattern = regexp.MustCompile(`^[0-9]+(us|ms|s|m|h|d)?$`)

// CookieFrom is the oldest HAProxy (major, minor) whose `add server` takes
// a cookie that wsctl sends: 2.6 answers "'cookie' option is not accepted
// for dynamic server", 3.0 takes it (both tested).
var CookieFrom = [2]int{3, 0}

// supportedBy refuses, before anything is sent, the options the HAProxy
// behind info does not accept on `add server`: a caller can then fall back
// to a reload, where the server line carries them.
func (o ServerOptions) supportedBy(info Info) error {
	if o.Cookie != "" && !info.AtLeast(CookieFrom[0], CookieFrom[1]) {
		return fmt.Errorf("%w: HAProxy %s refuses a cookie on a server added at runtime, %d.%d takes it (reload to add the server with its cookie)",
			ErrNeedsVersion, info.Version, CookieFrom[0], CookieFrom[1])
	}
	return nil
}

// AddServer adds backend/server at addr:port with `add server`. The server
// starts in MAINT with checks off: follow with EnableHealth and SetState
// Ready (or use a ChangeAdd with Apply, which does all three). An address
// with an IPv6 zone wraps ErrInvalidName. A Cookie on HAProxy older than
// CookieFrom wraps ErrNeedsVersion, before anything is sent. Only
// algorithms HAProxy calls dynamic (leastconn, roundrobin, consistent
// hashing) accept it. A refusal wraps ErrCommand.
func (c *Client) AddServer(ctx context.Context, backend, server string, addr netip.Addr, port int, o ServerOptions) error {
	op := fmt.Sprintf("add server %s/%s", backend, server)
	cmd, err := addServerCommand(backend, server, addr, port, o)
	if err == nil {
		err = o.supportedBy(c.info)
	}
	if err != nil {
		return c.wrap(op, err)
	}
	reply, err := c.raw(ctx, cmd)
	if err != nil {
		return c.wrap(op, err)
	}
	if !strings.Contains(reply, addedReply) {
		return c.wrap(op, commandError(reply))
	}
	return nil
}

// addServerCommand builds the `add server` line, refusing anything that is
// not a plain name, address, number or duration.
func addServerCommand(backend, server string, addr netip.Addr, port int, o ServerOptions) (string, error) {
	if err := validPair(backend, server); err != nil {
		return "", err
	}
	if err := validAddr(addr); err != nil {
		return "", err
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("%w: port %d", ErrInvalidName, port)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add server %s/%s %s", backend, server, netip.AddrPortFrom(addr.Unmap(), uint16(port)))
	if o.Check {
		b.WriteString(" check")
		if o.Inter != "" {
			if !durationPattern.MatchString(o.Inter) {
				return "", fmt.Errorf("%w: inter %q", ErrInvalidName, o.Inter)
			}
			b.WriteString(" inter " + o.Inter)
		}
		if o.Fall > 0 {
			b.WriteString(" fall " + strconv.Itoa(o.Fall))
		}
		if o.Rise > 0 {
			b.WriteString(" rise " + strconv.Itoa(o.Rise))
		}
	}
	if o.Weight > 0 {
		b.WriteString(" weight " + strconv.Itoa(o.Weight))
	}
	if o.Cookie != "" {
		if err := ValidName(o.Cookie); err != nil {
			return "", fmt.Errorf("cookie: %w", err)
		}
		b.WriteString(" cookie " + o.Cookie)
	}
	if o.Slowstart != "" {
		if !durationPattern.MatchString(o.Slowstart) {
			return "", fmt.Errorf("%w: slowstart %q", ErrInvalidName, o.Slowstart)
		}
		b.WriteString(" slowstart " + o.Slowstart)
	}
	if o.MaxConn > 0 {
		b.WriteString(" maxconn " + strconv.Itoa(o.MaxConn))
	}
	return b.String(), nil
}

// EnableHealth turns on the health checks of backend/server (`enable
// health`), which a server added at runtime starts without.
func (c *Client) EnableHealth(ctx context.Context, backend, server string) error {
	op := fmt.Sprintf("enable health %s/%s", backend, server)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	if _, err := c.rawAllowEmpty(ctx, "enable health "+backend+"/"+server); err != nil {
		return c.wrap(op, err)
	}
	return nil
}

// EnableDynamicCookies (re)computes the dynamic cookies of every server of
// backend with `enable dynamic-cookie backend`. HAProxy 2.6 gives a server
// added with `add server` no dynamic cookie of its own (tested: its clients
// get an empty, expiring cookie) until this runs; servers that had one keep
// the same value, since it derives from the key and the address.
func (c *Client) EnableDynamicCookies(ctx context.Context, backend string) error {
	op := "enable dynamic-cookie backend " + backend
	if err := ValidName(backend); err != nil {
		return c.wrap(op, err)
	}
	if _, err := c.rawAllowEmpty(ctx, op); err != nil {
		return c.wrap(op, err)
	}
	return nil
}

// DeleteServer removes backend/server with `del server`. HAProxy refuses
// unless the server is in MAINT with no session left (wraps ErrCommand).
func (c *Client) DeleteServer(ctx context.Context, backend, server string) error {
	op := fmt.Sprintf("del server %s/%s", backend, server)
	if err := validPair(backend, server); err != nil {
		return c.wrap(op, err)
	}
	reply, err := c.raw(ctx, "del server "+backend+"/"+server)
	if err != nil {
		return c.wrap(op, err)
	}
	if !strings.Contains(reply, deletedReply) {
		return c.wrap(op, commandError(reply))
	}
	return nil
}
