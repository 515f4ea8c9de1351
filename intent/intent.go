// Package intent keeps operator intents — "backend2 is drained", "backend3 is
// in maintenance" — where both the CLI and the agent see them, so the agent
// never sets such a server ready again, not after a reload, an HAProxy
// restart or its own restart. With Consul in use the intents live in Consul
// KV under the spec's kv_prefix (one place for a fleet of load balancers);
// otherwise in a JSON file beside haproxy.state_file (by default beside the
// admin socket).
package intent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/spec"
)

// Intent is an operator's wish for one server.
type Intent struct {
	Backend string `json:"backend"`
	Server  string `json:"server"`
	// State is haproxy.Drain or haproxy.Maint.
	State haproxy.AdminState `json:"state"`
	Since time.Time          `json:"since"`
	// Op, set by `wsctl drain --fleet` and `wsctl maint --fleet`, asks
	// every agent to carry the operation out on its own HAProxy and report
	// its progress; without it an agent only holds State.
	Op *Op `json:"op,omitempty"`
	// Who and Reason are for the audit trail (`wsctl status --fleet`):
	// the user and host that asked, and their --reason.
	Who    string `json:"who,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Who names the operator for an intent's audit trail: user@host, the
// user from $USER, else $LOGNAME (getenv reads them; "" when neither is
// set, as in a bare container).
func Who(getenv func(string) string) string {
	host, _ := os.Hostname()
	return cmp.Or(getenv("USER"), getenv("LOGNAME")) + "@" + host
}

// Op is a fleet operation on one server, run by every agent.
type Op struct {
	// ID names the operation: progress reports carry it.
	ID string `json:"id"`
	// CloseAfter, when set, is when (seconds after Since) the sessions
	// left are closed, at CloseRate per second across the whole fleet (0:
	// all at once).
	CloseAfter *float64 `json:"close_after_s,omitempty"`
	CloseRate  float64  `json:"close_rate,omitempty"`
	// Timeout (seconds after Since, 0: none) ends the agents' drains.
	Timeout float64 `json:"timeout_s,omitempty"`
	// Force drains even the last server of a backend that can take new
	// clients.
	Force bool `json:"force,omitempty"`
	// Hold sets the intent's state and keeps it, with no drain and no
	// check: a rollout holds the servers still to deploy in DRAIN (they
	// keep their sessions) while another one is drained. The agents own
	// the state, so they readmit the server once the intent goes.
	Hold bool `json:"hold,omitempty"`
}

// Ref is the server the intent is about.
func (i Intent) Ref() haproxy.Ref { return haproxy.Ref{Backend: i.Backend, Server: i.Server} }

// ErrInvalid is returned for an intent with a bad name or state.
var ErrInvalid = errors.New("invalid intent")

// Validate checks names (they become file keys and KV paths) and the state.
func (i Intent) Validate() error {
	if err := haproxy.ValidName(i.Backend); err != nil {
		return fmt.Errorf("%w: backend: %v", ErrInvalid, err)
	}
	if err := haproxy.ValidName(i.Server); err != nil {
		return fmt.Errorf("%w: server: %v", ErrInvalid, err)
	}
	if i.State != haproxy.Drain && i.State != haproxy.Maint {
		return fmt.Errorf("%w: state %q (want DRAIN or MAINT)", ErrInvalid, i.State)
	}
	if i.Op != nil {
		if err := haproxy.ValidName(i.Op.ID); err != nil {
			return fmt.Errorf("%w: op id: %v", ErrInvalid, err)
		}
		if err := i.Op.validate(); err != nil {
			return fmt.Errorf("%w: op %s: %v", ErrInvalid, i.Op.ID, err)
		}
	}
	return nil
}

// validate bounds the op as `wsctl drain` bounds its flags (drain.Options'
// checks), each duration in range before it is converted: an intent is
// anyone's who may write the KV, and 1e10 seconds overflow a
// time.Duration into a drain that closes at once.
func (o Op) validate() error {
	seconds := func(field string, s float64) (time.Duration, error) {
		if math.IsNaN(s) || s < 0 || s > drain.MaxDuration.Seconds() {
			return 0, fmt.Errorf("%s %g is out of range (0 to %g seconds)", field, s, drain.MaxDuration.Seconds())
		}
		return time.Duration(s * float64(time.Second)), nil
	}
	timeout, err := seconds("timeout_s", o.Timeout)
	if err != nil {
		return err
	}
	opts := drain.Options{Timeout: timeout, Close: &drain.Close{Rate: o.CloseRate}}
	if o.CloseAfter != nil {
		if opts.Close.After, err = seconds("close_after_s", *o.CloseAfter); err != nil {
			return err
		}
	}
	// Without close_after_s the rate does nothing, but is bounded all the
	// same.
	return opts.Validate()
}

// Store holds the intents.
type Store interface {
	// Load returns every intent by server.
	Load(ctx context.Context) (map[haproxy.Ref]Intent, error)
	// Put records an intent, replacing any for the same server.
	Put(ctx context.Context, i Intent) error
	// Delete forgets the intent for a server; none is not an error.
	Delete(ctx context.Context, ref haproxy.Ref) error
	// Where says where the intents are kept, for messages.
	Where() string
}

// FileName is the intents file, beside haproxy.state_file.
const FileName = "wsctl-intents.json"

// Open returns the store a spec uses: Consul KV when a backend is discovered
// from Consul, else the file beside haproxy.state_file, where wsctl keeps
// its state.
func Open(s *spec.Spec) (Store, error) {
	for _, b := range s.Backends {
		if b.Consul != nil {
			return NewConsul(s.Consul)
		}
	}
	return NewFile(filepath.Join(filepath.Dir(s.HAProxy.StateFile), FileName)), nil
}
