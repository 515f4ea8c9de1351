package spec

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// StatsName is the name of the stats frontend in HAProxy's config; a
// listener may not take it while stats is on.
const StatsName = "stats"

// maxAuthFile bounds the stats auth file: one line "user:password".
const maxAuthFile = 4 << 10

var (
	statsUser = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// statsPassword keeps the password one word in HAProxy's config: no
	// whitespace, comment, quote, escape or variable.
	statsPassword = regexp.MustCompile(`^[!%&()*+,\-./0-9:<=>?@A-Z\[\]^_` + "`" + `a-z|~]{1,128}$`)
)

// stats validates the stats section: a bind that no listener shares, a
// name no listener takes, an auth file path, and networks for allow.
func (v *validator) stats() {
	st := v.s.Stats
	if st == nil {
		return
	}
	for i, l := range v.s.Listeners {
		if l.Name == StatsName {
			v.add(fmt.Sprintf("listeners[%d].name", i), "%q is the name of the stats frontend (stats: is set); rename the listener", l.Name)
		}
	}
	v.statsSection("stats", st)
}

// statsSection validates a stats section at field (stats, front.stats).
func (v *validator) statsSection(field string, st *Stats) {
	v.bind(field+".bind", st.Bind)
	v.listenerOverlaps(field+".bind", st.Bind, "the stats page needs a port of its own")
	if st.Auth != "" {
		v.path(field+".auth", st.Auth)
	}
	for i, a := range st.Allow {
		if _, err := ParseAllow(a); err != nil {
			v.add(fmt.Sprintf("%s.allow[%d]", field, i), "%q is not a network (CIDR such as 10.0.0.0/8) or an IP address", a)
		}
	}
}

// listenerOverlaps adds an error at field for every listener address that
// bind overlaps; why ends the message.
func (v *validator) listenerOverlaps(field, bind, why string) {
	for i, l := range v.s.Listeners {
		for j, b := range l.AllBinds() {
			if lf, _ := l.BindFields(j); bindsOverlap(b.Address, bind) {
				v.add(field, "%q overlaps listeners[%d].%s %q: %s", bind, i, lf, b.Address, why)
			}
		}
	}
}

// bindsOverlap reports whether two address:port binds would take the same
// socket: the same port, and the same address or either one every address
// ("", "*", 0.0.0.0, ::).
func bindsOverlap(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	every := func(h string) bool { return h == "" || h == "*" || h == "0.0.0.0" || h == "::" }
	return ha == hb || every(ha) || every(hb)
}

// ParseAllow reads a stats.allow entry: a CIDR, or an IP address (one
// host). The network is returned masked (10.1.2.3/8 is 10.0.0.0/8).
func ParseAllow(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// StatsAuth reads the user and password from the stats auth file ("", ""
// when none is set). A relative path resolves against the spec's
// directory. The file holds one line "user:password"; an error names the
// spec's stats.auth field and the file.
func (s *Spec) StatsAuth() (user, password string, err error) {
	if s.Stats == nil || s.Stats.Auth == "" {
		return "", "", nil
	}
	path := s.Stats.Auth
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(s.File), path)
	}
	b, err := inputfile.Read(path, maxAuthFile)
	if err != nil {
		return "", "", s.Errorf("stats.auth", "%v", err)
	}
	line := strings.TrimRight(string(b), "\r\n")
	user, password, ok := strings.Cut(line, ":")
	switch {
	case !ok || strings.ContainsAny(line, "\r\n"):
		return "", "", s.Errorf("stats.auth", "%s: want one line user:password", path)
	case !statsUser.MatchString(user):
		return "", "", s.Errorf("stats.auth", "%s: the user must be 1-64 letters, digits, '_', '.' or '-'", path)
	case !statsPassword.MatchString(password):
		return "", "", s.Errorf("stats.auth", "%s: the password must be 1-128 printable characters without spaces, quotes, '#', '$', ';', '{', '}' or '\\'", path)
	}
	return user, password, nil
}
