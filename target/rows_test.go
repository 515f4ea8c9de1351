package target_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/target"
)

// TestStatusRows: one row per server in the places' order, each naming its
// place only when there are several; answered unless every place failed.
func TestStatusRows(t *testing.T) {
	s1 := haproxy.ServerStatus{Backend: "ws", Server: "s1", Addr: "10.0.0.1:80", State: haproxy.Up, Admin: haproxy.Drain, Check: "L7OK", Scur: 3, Smax: 4, Stot: 5, Weight: 6}
	s2 := haproxy.ServerStatus{Backend: "ws", Server: "s2", State: haproxy.Down, Admin: haproxy.Maint}
	row1 := target.Row{Backend: "ws", Server: "s1", Addr: "10.0.0.1:80", State: "UP", Admin: "DRAIN", Check: "L7OK", Scur: 3, Smax: 4, Stot: 5, Weight: 6}
	row2 := target.Row{Backend: "ws", Server: "s2", State: "DOWN", Admin: "MAINT"}
	dead := target.Listing{Place: "/c.sock", Err: errors.New("refused")}
	for _, c := range []struct {
		name     string
		listings []target.Listing
		want     []target.Row
		answered bool
	}{
		{name: "one socket", listings: []target.Listing{{Place: "/a.sock", Servers: []haproxy.ServerStatus{s1, s2}}},
			want: []target.Row{row1, row2}, answered: true},
		{name: "several name theirs", listings: []target.Listing{{Place: "/a.sock", Servers: []haproxy.ServerStatus{s1}}, {Place: "/b.sock", Servers: []haproxy.ServerStatus{s2}}, dead},
			want: []target.Row{withSocket(row1, "/a.sock"), withSocket(row2, "/b.sock")}, answered: true},
		{name: "none answers", listings: []target.Listing{dead}, want: []target.Row{}},
	} {
		rows, answered := target.Status{Listings: c.listings}.Rows()
		if d := cmp.Diff(c.want, rows); d != "" || answered != c.answered {
			t.Errorf("%s: answered %v, want %v; rows (-want +got):\n%s", c.name, answered, c.answered, d)
		}
	}
}

func withSocket(r target.Row, socket string) target.Row {
	r.Socket = socket
	return r
}
