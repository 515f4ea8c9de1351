// Package serverstate keeps what the runtime API changed in HAProxy across
// reloads and restarts: DRAIN and MAINT, weights, addresses, and servers
// added at haproxy.
//
// HAProxy does most of it itself once told (the template renders
// `server-state-file` and `load-server-state-from-file global`): at start
// and at every reload it applies the file to the servers of its config.
// Save writes the file from the running process, right before a reload or
// a stop; Ensure creates it empty beforehand, so HAProxy 2.6 never warns
// about a missing one. A server added at runtime (`add server`) is in no
// config, so HAProxy skips its line: Restore adds it again, with its saved
// address, weight and administrative state.
package serverstate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/internal/statefile"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
)

// Source is what Save reads: `show servers state`, as text
// (*haproxy.Client).
type Source interface {
	ServersStateText(ctx context.Context) (string, error)
}

var _ Source = (*haproxy.Client)(nil)

// Save writes the `show servers state` of the HAProxy behind c to path,
// atomically (an interrupted save leaves the previous file), as a state
// file (package statefile: a link or a file another user owns is refused).
func Save(ctx context.Context, c Source, path string) error {
	text, err := c.ServersStateText(ctx)
	if err != nil {
		return fmt.Errorf("state: save: %w", err)
	}
	if _, err := statefile.Write(path, []byte(text)); err != nil {
		return fmt.Errorf("state: save: %w", err)
	}
	return nil
}

// Saved is what SaveRunning did.
type Saved struct {
	// Pid is the HAProxy whose state was saved; 0 when none ran.
	Pid int64
	// Created says no HAProxy ran and the file was created empty.
	Created bool
}

// SaveRunning saves the state of the HAProxy behind the admin socket to
// path (Save). When none runs (haproxy.ErrNoSocket) the file is kept as it
// is, and created empty if there is none (Ensure), so HAProxy never starts
// without one: `wsctl state save` runs before HAProxy stops, reloads and
// starts. timeout bounds each exchange with HAProxy.
func SaveRunning(ctx context.Context, socket string, timeout time.Duration, path string) (Saved, error) {
	c, err := haproxy.Dial(ctx, socket, timeout)
	if errors.Is(err, haproxy.ErrNoSocket) {
		created, err := Ensure(path)
		return Saved{Created: created}, err
	}
	if err != nil {
		return Saved{}, err
	}
	if err := Save(ctx, c, path); err != nil {
		return Saved{}, err
	}
	return Saved{Pid: c.Info().Pid}, nil
}

// Ensure creates path holding no server, unless it exists, and reports
// whether it did. An existing file must be one Save may replace.
func Ensure(path string) (bool, error) {
	if err := statefile.Check(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("state: %w", err)
	}
	if _, err := statefile.Write(path, []byte(proxy.EmptyStateFile)); err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	return true, nil
}

// Options returns the keywords `add server` gives a server of backend
// added again (a dynamic server does not inherit default-server), and
// false for a backend that should get none back.
type Options func(backend string) (haproxy.ServerOptions, bool)

// Restore adds to the HAProxy behind c the servers saved in path that it
// lacks but whose backend it has: servers added at runtime before a reload
// or a restart. Each comes back at its saved address and weight, with the
// options opts gives its backend, and in its saved administrative state.
// It returns the servers added; a missing file restores nothing.
func Restore(ctx context.Context, c *haproxy.Client, path string, opts Options) ([]haproxy.Ref, error) {
	text, err := statefile.Read(path, inputfile.MaxConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: restore: %w", err)
	}
	saved, err := haproxy.ParseServersState(string(text))
	if err != nil {
		return nil, fmt.Errorf("state: restore: %s: %w", path, err)
	}
	running, err := c.Servers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("state: restore: %w", err)
	}
	have, backends := map[haproxy.Ref]bool{}, map[string]bool{}
	for _, s := range running {
		have[s.Ref()] = true
		backends[s.Backend] = true
	}
	var changes []haproxy.Change
	var added []haproxy.Ref
	for _, s := range saved {
		o, ok := opts(s.Backend)
		if have[s.Ref()] || !backends[s.Backend] || !ok {
			continue
		}
		ap, err := netip.ParseAddrPort(s.Addr)
		if err != nil {
			return nil, fmt.Errorf("state: restore: %s: address %q of %s: %w", path, s.Addr, s.Ref(), err)
		}
		o.Weight = int(s.UserWeight)
		// Left in its saved state by the add itself: one saved in DRAIN
		// or MAINT is never READY on the way.
		changes = append(changes, haproxy.Change{Kind: haproxy.ChangeAdd, Backend: s.Backend, Server: s.Server,
			Addr: ap.Addr(), Port: int(ap.Port()), Options: o, State: s.Admin})
		added = append(added, s.Ref())
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := errors.Join(c.Apply(ctx, changes)...); err != nil {
		return nil, fmt.Errorf("state: restore: %w", err)
	}
	return added, nil
}

// ModelOptions gives a server added again what the agent gives a server it
// adds (AddOptions; the saved weight then replaces the default one).
// Backends m lacks get none back.
func ModelOptions(m *model.Model) Options {
	return func(backend string) (haproxy.ServerOptions, bool) {
		for _, b := range m.Backends {
			if b.Name == backend {
				return AddOptions(b), true
			}
		}
		return haproxy.ServerOptions{}, false
	}
}

// AddOptions are the keywords a server of b gets when it is added at
// runtime: a dynamic server does not inherit default-server, so b's
// DefaultServer is spelt out, with checks.
func AddOptions(b model.Backend) haproxy.ServerOptions {
	d := b.DefaultServer
	return haproxy.ServerOptions{Check: true, Inter: d.Inter, Fall: d.Fall, Rise: d.Rise, Slowstart: d.Slowstart, MaxConn: d.MaxConn, Weight: d.Weight}
}
