package drain

import "github.com/wsctl/wsctl/paced"

// Summary is the summary of `wsctl drain -o json` (docs/operations.md): a
// documented contract, so fields are only ever added.
type Summary struct {
	Server  string          `json:"server"`
	Result  string          `json:"result"`
	Elapsed float64         `json:"elapsed_s"`
	Sockets []SocketSummary `json:"sockets"`
}

// SocketSummary is one socket's part of a Summary.
type SocketSummary struct {
	Socket  string  `json:"socket"`
	Backend string  `json:"backend"`
	Server  string  `json:"server"`
	Result  string  `json:"result"`
	Before  int64   `json:"sessions_before"`
	Left    int64   `json:"sessions_left"`
	Closed  int     `json:"closed"`
	Admin   string  `json:"admin"`
	Elapsed float64 `json:"elapsed_s"`
	Error   string  `json:"error,omitempty"`
}

// Summarize is res as the drain of server (as the operator named it)
// shows it.
func Summarize(server string, res Result) Summary {
	out := Summary{Server: server, Result: string(res.Outcome()), Elapsed: paced.Seconds(res.Elapsed), Sockets: []SocketSummary{}}
	for _, r := range res.Reports {
		s := SocketSummary{
			Socket: r.Target, Backend: r.Backend, Server: r.Server, Result: string(r.Outcome),
			Before: r.Before, Left: r.Left, Closed: r.Closed, Admin: string(r.Admin), Elapsed: paced.Seconds(r.Elapsed),
		}
		if r.Err != nil {
			s.Error = r.Err.Error()
		}
		out.Sockets = append(out.Sockets, s)
	}
	return out
}
