package target

// Row is one server at one place: an element of `wsctl status -o json`, a
// documented contract, so fields are only ever added.
type Row struct {
	// Socket is the listing's place, only when there are several.
	Socket  string `json:"socket,omitempty"`
	Backend string `json:"backend"`
	Server  string `json:"server"`
	Addr    string `json:"addr"`
	State   string `json:"state"`
	Admin   string `json:"admin"`
	Check   string `json:"check"`
	Scur    int64  `json:"scur"`
	Smax    int64  `json:"smax"`
	Stot    int64  `json:"stot"`
	Weight  int64  `json:"weight"`
}

// Rows are the listings' servers, a row each in the places' order (never
// nil, so an empty status is []). answered reports whether any place
// answered: when none did there is nothing to show but the error.
func (s Status) Rows() (rows []Row, answered bool) {
	rows = []Row{}
	for _, li := range s.Listings {
		answered = answered || li.Err == nil
		for _, sv := range li.Servers {
			r := Row{Backend: sv.Backend, Server: sv.Server, Addr: sv.Addr, State: string(sv.State), Admin: string(sv.Admin),
				Check: sv.Check, Scur: sv.Scur, Smax: sv.Smax, Stot: sv.Stot, Weight: sv.Weight}
			if len(s.Listings) > 1 {
				r.Socket = li.Place
			}
			rows = append(rows, r)
		}
	}
	return rows, answered
}
