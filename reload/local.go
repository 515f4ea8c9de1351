package reload

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/serverstate"
	"github.com/wsctl/wsctl/spec"
)

// Local is the HAProxy of this host, reached through its files and sockets.
type Local struct {
	// ConfigFile is the file HAProxy loads.
	ConfigFile string
	// AdminSocket and MasterSocket are haproxy.admin_socket and
	// haproxy.master_socket.
	AdminSocket, MasterSocket string
	// Validator checks a config with the binary.
	Validator proxy.Validator
	// Timeout bounds each exchange with HAProxy, the master's loading of
	// the new config included; zero means haproxy.DefaultTimeout.
	Timeout time.Duration
}

var (
	_ HAProxy[*haproxy.Client] = Local{}
	_ Checker[*haproxy.Client] = Local{}
)

// Worker dials the admin socket.
func (l Local) Worker(ctx context.Context) (*haproxy.Client, error) {
	return haproxy.Dial(ctx, l.AdminSocket, l.Timeout)
}

// Reload asks the master CLI for a reload.
func (l Local) Reload(ctx context.Context) error {
	return haproxy.NewMaster(l.MasterSocket, l.Timeout).Reload(ctx)
}

// Validate checks config with haproxy -c.
func (l Local) Validate(ctx context.Context, config []byte) error {
	_, err := l.Validator.Validate(ctx, proxy.HAProxyBinary, config)
	return err
}

// Current reads ConfigFile; nil when it does not exist.
func (l Local) Current() ([]byte, error) {
	data, err := inputfile.Read(l.ConfigFile, inputfile.MaxConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Write replaces ConfigFile atomically.
func (l Local) Write(config []byte) (bool, error) { return proxy.WriteAtomic(l.ConfigFile, config) }

// RestoreAdded adds back to the worker behind c the servers added at
// runtime that s's state file holds and c lacks (a reload or a restart
// loses them: they are in no config), with what the spec gives its
// backend's servers, and returns them.
func RestoreAdded(ctx context.Context, c *haproxy.Client, s *spec.Spec) ([]haproxy.Ref, error) {
	m, err := model.Build(s, model.TargetHAProxy, static.Snapshot(s))
	if err != nil {
		return nil, err
	}
	return serverstate.Restore(ctx, c, s.HAProxy.StateFile, serverstate.ModelOptions(m))
}
