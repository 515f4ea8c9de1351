package target

import (
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/paced"
)

// ChangeSummary is the result of `wsctl ready -o json` and `wsctl maint -o
// json` on admin sockets (with --fleet they print fleet.Summary): a
// documented contract, so fields are only ever added.
type ChangeSummary struct {
	Server string `json:"server"`
	// Result is "done", or "timed_out" when ready --wait-healthy waited
	// in vain.
	Result string `json:"result"`
	// Admin is the state set: "READY" or "MAINT".
	Admin   string  `json:"admin"`
	Sockets int     `json:"sockets"`
	Elapsed float64 `json:"elapsed_s"`
	// NotHealthy says, per socket, why the server is not healthy yet.
	NotHealthy []string `json:"not_healthy,omitempty"`
	// SessionsOpen are the sessions a forced MAINT left open.
	SessionsOpen int64 `json:"sessions_open,omitempty"`
}

// Summary is r, a change that set admin, as ChangeSummary.
func (r Result) Summary(admin haproxy.AdminState) ChangeSummary {
	return ChangeSummary{Server: r.Ref.String(), Result: string(r.Outcome), Admin: string(admin), Sockets: r.Places,
		Elapsed: paced.Seconds(r.Elapsed), NotHealthy: r.Sick, SessionsOpen: r.Sessions}
}
