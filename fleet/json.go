package fleet

import (
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/paced"
)

// Summary is a fleet operation's summary with -o json (drain, maint and
// ready --fleet; docs/operations.md): a documented contract, so fields
// are only ever added.
type Summary struct {
	Server        string      `json:"server"`
	Op            string      `json:"op,omitempty"`
	Result        string      `json:"result"`
	Error         string      `json:"error,omitempty"`
	Withdrawn     bool        `json:"withdrawn,omitempty"`
	TookOver      string      `json:"took_over,omitempty"`
	Elapsed       float64     `json:"elapsed_s"`
	LoadBalancers []LBSummary `json:"load_balancers"`
	Totals        struct {
		Sessions int64 `json:"sessions"`
		Closed   int   `json:"closed"`
	} `json:"total"`
}

// LBSummary is one load balancer's row of a Summary.
type LBSummary struct {
	Agent    string `json:"agent"`
	Admin    string `json:"admin"`
	State    string `json:"state"`
	Phase    string `json:"phase"`
	Sessions int64  `json:"sessions"`
	Closed   int    `json:"closed"`
	Done     bool   `json:"done"`
	Missing  bool   `json:"missing"`
	Error    string `json:"error,omitempty"`
}

// Summary is the operation on ref as it ended, st.
func (st Status) Summary(ref haproxy.Ref) Summary {
	out := Summary{Server: ref.String(), Op: st.Op, Result: string(st.Outcome), Error: st.Problem, Withdrawn: st.Withdrawn, TookOver: st.TookOver,
		Elapsed: paced.Seconds(st.Elapsed), LoadBalancers: []LBSummary{}}
	out.Totals.Sessions, out.Totals.Closed = st.Totals()
	for _, r := range st.Rows {
		lb := LBSummary{Agent: r.Agent, Done: r.Done, Missing: r.Missing}
		if p := r.Report; p != nil {
			lb.Admin, lb.State, lb.Phase, lb.Sessions, lb.Closed, lb.Error = string(p.Admin), string(p.State), p.Phase, p.Sessions, p.Closed, p.Error
		}
		out.LoadBalancers = append(out.LoadBalancers, lb)
	}
	return out
}
