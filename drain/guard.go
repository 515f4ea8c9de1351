package drain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wsctl/wsctl/haproxy"
)

// CheckNotLast refuses to take a target's server out when no other server
// of its backend can take new clients on that socket: the clients cut or
// turned away would have nowhere to go, and the frontend would answer 503.
// It reads every socket and changes nothing. The error wraps ErrLastServer,
// lists the other servers' states and says what would let one take clients:
// a health check for those READY but not yet UP, else bringing one back. It
// names no command of its own: callers prefix theirs. A failed read is
// returned as is.
//
// Which servers can take new clients is haproxy.ServerStatus.TakesClients.
// The check is a snapshot: a server that fails a moment later is not
// foreseen.
func CheckNotLast(ctx context.Context, targets []Target) error {
	var errs []error
	for _, t := range targets {
		all, err := t.Runtime.Servers(ctx, t.Backend)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var others, waiting []string
		spare := false
		for _, s := range all {
			if s.Server == t.Server {
				continue
			}
			spare = spare || s.TakesClients()
			desc := fmt.Sprintf("%s %s %s", s.Server, s.Admin, s.State)
			if s.UserWeight == 0 {
				desc += " weight 0"
			}
			others = append(others, desc)
			if s.Admin == haproxy.Ready && s.State == haproxy.Down && s.Checked && s.UserWeight > 0 {
				waiting = append(waiting, s.Server)
			}
		}
		if spare {
			continue
		}
		seen := "it has no other server"
		if len(others) > 0 {
			seen = "the others: " + strings.Join(others, ", ")
		}
		hint := "bring another server back first (wsctl ready SERVER)"
		if len(waiting) > 0 {
			verb := "is"
			if len(waiting) > 1 {
				verb = "are"
			}
			hint = fmt.Sprintf("%s %s READY but not yet UP, waiting for a health check: try again once one is UP (wsctl status)",
				strings.Join(waiting, ", "), verb)
		}
		errs = append(errs, fmt.Errorf("%s: taking out %s/%s leaves backend %s nothing to send clients to: %w (%s); %s",
			t.Socket, t.Backend, t.Server, t.Backend, ErrLastServer, seen, hint))
	}
	return errors.Join(errs...)
}
