package rollout

import (
	"fmt"
	"slices"
	"sort"
)

// Load is what one socket shows of the backend's servers: sessions by
// server name.
type Load map[string]int64

// Order returns the servers in the order a rollout deploys them: fewest
// sessions first (summed over loads), then by name. The first server is
// the only one whose clients must land on servers still to be deployed, so
// every client it holds is cut twice: the emptiest goes first. After it
// each old server's clients are cut once whatever the order; ascending
// sessions keeps the deployed set largest when the heaviest servers come,
// which is what a per-server ceiling needs.
func Order(servers []string, loads []Load) []string {
	total := map[string]int64{}
	for _, l := range loads {
		for s, n := range l {
			total[s] += n
		}
	}
	out := slices.Clone(servers)
	sort.SliceStable(out, func(i, j int) bool {
		if total[out[i]] != total[out[j]] {
			return total[out[i]] < total[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Landing is where the clients of the server being drained may go.
type Landing struct {
	// Servers take the cut clients: the deployed servers (and the surge),
	// or, for the first server or after a fallback, every other server.
	Servers []string
	// Held are the servers still to be deployed, set to DRAIN while the
	// server is drained: they keep their WebSockets and take no new ones.
	Held []string
	// Fallback, when not empty, says why the landing set is not only the
	// deployed servers: it would exceed the ceiling.
	Fallback string
}

// Choose picks the landing set for draining server while deployed are
// already on the new version and old are still to be deployed. ceiling is
// the most WebSockets one server may hold on one HAProxy process (0: no
// limit); loads are the sessions on every socket. When the deployed
// servers would have to take more than their ceilings on some socket, it
// falls back to the plain order: every other server takes clients, none is
// held, and Fallback says so.
func Choose(server string, deployed, old []string, loads []Load, ceiling int64) Landing {
	if len(deployed) == 0 {
		return Landing{Servers: slices.Clone(old)}
	}
	if ceiling > 0 {
		for i, l := range loads {
			need := l[server]
			for _, d := range deployed {
				need += l[d]
			}
			if limit := ceiling * int64(len(deployed)); need > limit {
				return Landing{
					Servers: append(slices.Clone(deployed), old...),
					Fallback: fmt.Sprintf("the deployed servers would hold %d WebSockets on socket %d, above their ceiling of %d (%d each): "+
						"falling back to the plain order, the servers still to be deployed take clients too", need, i+1, limit, ceiling),
				}
			}
		}
	}
	return Landing{Servers: slices.Clone(deployed), Held: slices.Clone(old)}
}
