package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

// Host is a server address that passed validation: an IP address without a
// zone, or a DNS host name of letters, digits, '-' and '.'. It cannot hold
// anything else, so a Host written into a config or a runtime command can
// never carry a separator, a newline or a bracket. The zero Host is invalid
// (IsValid reports false) and renders as "".
//
// Create one with ParseIP (discovery from Consul and other hostile sources)
// or ParseHost (the operator's spec, where host names are allowed).
type Host struct {
	ip   netip.Addr
	name string
}

// MaxHostNameLen is the longest DNS name ParseHost accepts (RFC 1035).
const MaxHostNameLen = 253

// hostNamePattern is a DNS name: labels of letters, digits and '-', not
// starting or ending with '-', separated by single dots.
var hostNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// ErrInvalidHost is wrapped by the errors of ParseIP and ParseHost.
var ErrInvalidHost = errors.New("invalid address")

// ErrNotServerAddr is wrapped, besides ErrInvalidHost, by the error of
// ParseIP for an IP address that no connection to a server can go to.
var ErrNotServerAddr = errors.New("not a server address")

// ParseIP returns s as a Host when it is a plain IPv4 or IPv6 address. An
// IPv6 zone ("fe80::1%eth0") is refused, not stripped: zones are free text,
// and the text after '%' is what would reach a config or a socket. An
// IPv4-mapped IPv6 address becomes its IPv4 form.
//
// An address no TCP connection goes to is refused too (ErrNotServerAddr):
// unspecified (0.0.0.0/8, ::), to which HAProxy would connect to the
// client's own destination; multicast; 240.0.0.0/4, reserved, with the
// broadcast address 255.255.255.255. Loopback and link-local addresses are
// accepted here: whether they may be servers is the caller's policy.
func ParseIP(s string) (Host, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return Host{}, fmt.Errorf("%w: %s is not an IP address", ErrInvalidHost, quote(s))
	}
	if ip.Zone() != "" {
		return Host{}, fmt.Errorf("%w: %s has an IPv6 zone", ErrInvalidHost, quote(s))
	}
	ip = ip.Unmap()
	if kind := notServer(ip); kind != "" {
		return Host{}, fmt.Errorf("%w: %w: %s is %s", ErrInvalidHost, ErrNotServerAddr, ip, kind)
	}
	return Host{ip: ip}, nil
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122: "this host on this network", never a destination
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // RFC 1112 class E, with the limited broadcast
)

// notServer says what ip is when no connection to a server can go to it,
// or "".
func notServer(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case reserved.Contains(ip):
		return "reserved (240.0.0.0/4)"
	}
	return ""
}

// ParseHost returns s as a Host when it is an IP address (as ParseIP) or a
// DNS host name. Text that parses as an IP address is judged as one only,
// so "0.0.0.0" is never taken for a host name.
func ParseHost(s string) (Host, error) {
	if _, err := netip.ParseAddr(s); err == nil {
		return ParseIP(s)
	}
	if len(s) == 0 || len(s) > MaxHostNameLen || !hostNamePattern.MatchString(s) {
		return Host{}, fmt.Errorf("%w: %s is neither an IP address nor a host name", ErrInvalidHost, quote(s))
	}
	return Host{name: s}, nil
}

// MustParseIP is ParseIP for addresses known to be valid (constants,
// tests); it panics on an invalid one.
func MustParseIP(s string) Host {
	h, err := ParseIP(s)
	if err != nil {
		panic(err)
	}
	return h
}

// IsValid reports whether h was made by ParseIP or ParseHost.
func (h Host) IsValid() bool { return h.ip.IsValid() || h.name != "" }

// Equal reports whether h and o are the same address or name.
func (h Host) Equal(o Host) bool { return h == o }

// IP returns the address and true when h is an IP address.
func (h Host) IP() (netip.Addr, bool) { return h.ip, h.ip.IsValid() }

// String returns the address or host name, without brackets.
func (h Host) String() string {
	if h.ip.IsValid() {
		return h.ip.String()
	}
	return h.name
}

// JoinPort returns "host:port", with brackets around an IPv6 address.
func (h Host) JoinPort(port uint16) string {
	if h.ip.Is6() {
		return "[" + h.ip.String() + "]:" + strconv.Itoa(int(port))
	}
	return h.String() + ":" + strconv.Itoa(int(port))
}

// quote shows hostile input in messages without letting it break a log
// line: quoted, and cut when long.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
