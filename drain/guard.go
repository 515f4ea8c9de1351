package drain

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CheckNotLast refuses to take a target's server out when no other server
// of its backend can take new clients on that socket: the clients cut or
// turned away would have nowhere to go, and the frontend would answer 503.
// It reads every socket and changes nothing. The error wraps ErrLastServer
// and lists the other servers' states; a failed read is returned as is.
//
// Which servers can take new clients is runtime.ServerStatus.TakesClients.
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
		var others []string
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
		}
		if spare {
			continue
		}
		seen := "it has no other server"
		if len(others) > 0 {
			seen = "the others: " + strings.Join(others, ", ")
		}
		errs = append(errs, fmt.Errorf("drain: %s: taking out %s/%s leaves backend %s nothing to send clients to: %w (%s)",
			t.Name, t.Backend, t.Server, t.Backend, ErrLastServer, seen))
	}
	return errors.Join(errs...)
}
