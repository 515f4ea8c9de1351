package haproxy

import (
	"fmt"
	"strings"
)

// AdminState is a server's administrative state as an operator sets it.
type AdminState string

// The administrative states `set server B/S state` accepts.
const (
	// Ready takes new connections.
	Ready AdminState = "READY"
	// Drain takes no new connections, except from clients whose sticky
	// cookie names the server; existing ones stay.
	Drain AdminState = "DRAIN"
	// Maint takes no new connections at all (sticky clients are
	// redispatched under `option redispatch`); existing ones stay, and
	// health checks stop.
	Maint AdminState = "MAINT"
)

// ParseAdminState accepts ready, drain or maint in any case.
func ParseAdminState(s string) (AdminState, error) {
	switch a := AdminState(strings.ToUpper(s)); a {
	case Ready, Drain, Maint:
		return a, nil
	}
	return "", fmt.Errorf("unknown admin state %q (want ready, drain or maint)", s)
}

// AdminFlags are the srv_admin_state bits of `show servers state`, a
// decimal field (read as hex, an inherited drain, 16, would come out as
// maint).
type AdminFlags uint

// The srv_admin_state bits (HAProxy's SRV_ADMF_*).
const (
	FlagForcedMaint    AdminFlags = 1 << iota // set server state maint
	FlagInheritedMaint                        // the tracked server is in maint
	FlagConfigMaint                           // `disabled` in the config (a marker: see Disabled)
	FlagForcedDrain                           // set server state drain
	FlagInheritedDrain                        // the tracked server drains
	FlagResolveMaint                          // DNS resolution failed
	FlagFQDNMaint                             // FQDN set by the runtime API
)

// FlagConfigMaint is not a maint bit of its own: `disabled` sets it
// together with FlagForcedMaint, and readmitting the server clears only the
// forced bit, so a server rendered disabled and readmitted since runs READY
// with the marker still set (srv_admin_state 4; HAProxy's SRV_ADMF_MAINT
// mask leaves it out the same way).
const (
	maintMask = FlagForcedMaint | FlagInheritedMaint | FlagResolveMaint | FlagFQDNMaint
	drainMask = FlagForcedDrain | FlagInheritedDrain
)

// Disabled reports whether the flags are exactly the MAINT a config's
// `disabled` gives a server (forced and config maint, nothing else): the
// server has been in MAINT since the config was loaded. An operator's `set
// server state maint` on a server readmitted from `disabled` reads the
// same; no flag tells the two apart.
func (f AdminFlags) Disabled() bool {
	return f == FlagForcedMaint|FlagConfigMaint
}

// State returns the administrative state the flags amount to: any maint
// bit wins over drain.
func (f AdminFlags) State() AdminState {
	switch {
	case f&maintMask != 0:
		return Maint
	case f&drainMask != 0:
		return Drain
	}
	return Ready
}

// String lists the set flags, e.g. "forced-drain|inherited-maint"; "none"
// for zero.
func (f AdminFlags) String() string {
	names := []string{"forced-maint", "inherited-maint", "config-maint", "forced-drain", "inherited-drain", "resolve-maint", "fqdn-maint"}
	var out []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if rest := f &^ (1<<len(names) - 1); rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", uint(rest)))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "|")
}

// OpState is a server's operational state (srv_op_state).
type OpState string

// The operational states.
const (
	// Down: checks failed, or the server is in maint.
	Down OpState = "DOWN"
	// Starting: up, ramping its weight up during slowstart.
	Starting OpState = "STARTING"
	// Up: up and taking its full share.
	Up OpState = "UP"
	// Stopping: going down softly (checks report it as stopping).
	Stopping OpState = "STOPPING"
)

func opState(field string) OpState {
	switch field {
	case "0":
		return Down
	case "1":
		return Starting
	case "2":
		return Up
	case "3":
		return Stopping
	}
	return OpState("UNKNOWN(" + field + ")")
}
