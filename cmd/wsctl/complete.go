package main

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/target"
)

// completeTimeout bounds the admin socket read of a completion: a shell
// waiting on TAB must not hang on a stuck HAProxy.
const completeTimeout = time.Second

// completeNames returns a ValidArgsFunction completing the one argument
// of drain, ready, maint (servers, as BACKEND/SERVER) or rollout and
// rebalance (backends): from the spec (-c or found) and, when it answers,
// the admin socket, which also knows servers added at haproxy. Errors
// complete nothing rather than print: the shell shows no message.
func completeNames(io *cli.IOStreams, s *SocketOptions, backends bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		if sp, err := s.spec(io); err == nil && sp != nil {
			for _, b := range sp.Backends {
				if backends {
					names = append(names, b.Name)
					continue
				}
				for _, srv := range b.Servers {
					names = append(names, haproxy.Ref{Backend: b.Name, Server: srv.Name}.String())
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
		defer cancel()
		quick := *s
		quick.Timeout = completeTimeout
		if sockets, _ := quick.dialAll(ctx, io); sockets != nil {
			// A socket that fails completes nothing of its own.
			listings, _ := (&target.Local{Sockets: sockets}).Read(ctx, "")
			for _, li := range listings {
				for _, srv := range li.Servers {
					if backends {
						names = append(names, srv.Backend)
					} else {
						names = append(names, srv.Ref().String())
					}
				}
			}
		}
		slices.Sort(names)
		return slices.Compact(names), cobra.ShellCompDirectiveNoFileComp
	}
}
