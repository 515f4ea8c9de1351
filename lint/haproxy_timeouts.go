package lint

import (
	"fmt"
	"strings"
	"time"
)

// lintTimeouts checks every time value, then the idle timeouts each
// WebSocket backend really gets.
func (m *hModel) lintTimeouts() {
	for _, s := range m.cfg.sections {
		for _, l := range s.lines {
			key := l.args[0]
			val := 1
			if key == "timeout" {
				key, val = "timeout "+arg(l.args, 1), 2
			} else if key != "hard-stop-after" {
				continue
			}
			if _, err := parseHAProxyTime(arg(l.args, val)); err != nil {
				m.out.add("haproxy/timeout-value", m.at(l.line),
					fmt.Sprintf("%s: %v: HAProxy refuses to start", key, err),
					"write a number with a unit (us, ms, s, m, h, d), at most 24d")
			}
			if side, ok := ignoredTimeouts[s.kind][key]; ok {
				m.out.add("haproxy/timeout-ignored", m.at(l.line),
					fmt.Sprintf("%s in %s is ignored: HAProxy reads it from the %s, so WebSockets don't get this value", key, s.label(), side),
					fmt.Sprintf("move %s to the %s, a listen or the defaults section", key, side))
			}
		}
	}
	for _, be := range m.ws {
		m.lintTunnel(be)
	}
}

// ignoredTimeouts are the timeouts a frontend or a backend accepts but
// ignores, and the side of the proxy that uses them.
var ignoredTimeouts = map[string]map[string]string{
	"frontend": {"timeout tunnel": "backend", "timeout server": "backend", "timeout server-fin": "backend", "timeout connect": "backend", "timeout queue": "backend"},
	"backend":  {"timeout client": "frontend", "timeout client-fin": "frontend", "timeout http-request": "frontend", "timeout http-keep-alive": "frontend"},
}

// lintTunnel checks the idle timeout of the WebSockets of backend be. Once
// upgraded, a connection idles out at timeout tunnel; when that is unset
// (absent or 0) at the shorter of the frontend's timeout client and the
// backend's timeout server.
func (m *hModel) lintTunnel(be *hSection) {
	hb := m.opt.Heartbeat
	if tunnel, l, ok := be.timeout("tunnel"); ok {
		if tunnel <= hb {
			m.out.add("haproxy/tunnel-timeout", m.at(l.line),
				fmt.Sprintf("timeout tunnel %s is not above the %s heartbeat: HAProxy closes WebSockets that stay quiet that long, and clients reconnect", fmtDur(tunnel), fmtDur(hb)),
				fmt.Sprintf("timeout tunnel %s (well above the heartbeat)", suggestIdle(hb)))
		}
		m.lintFin(be, tunnel)
		return
	}
	idle, name, line := time.Duration(0), "", 0
	consider := func(d time.Duration, l hLine, set bool, what string) {
		if set && (idle == 0 || d < idle) {
			idle, name, line = d, what, l.line
		}
	}
	server, sl, sok := be.timeout("server")
	consider(server, sl, sok, "timeout server")
	for _, fe := range m.clientSide(be) {
		client, cl, cok := fe.timeout("client")
		consider(client, cl, cok, "timeout client")
	}
	switch {
	case idle == 0:
		m.out.add("haproxy/tunnel-timeout-unset", m.at(be.line),
			fmt.Sprintf("%s has no timeout tunnel, client or server: WebSockets whose peer vanished are never closed", be.label()),
			fmt.Sprintf("timeout tunnel %s with timeout client-fin/server-fin 30s", suggestIdle(hb)))
	case idle <= hb:
		m.out.add("haproxy/tunnel-timeout", m.at(be.line),
			fmt.Sprintf("%s has no timeout tunnel, so idle WebSockets are closed after %s %s (line %d), which is not above the %s heartbeat", be.label(), name, fmtDur(idle), line, fmtDur(hb)),
			fmt.Sprintf("timeout tunnel %s in the backend or its defaults section", suggestIdle(hb)))
	default:
		also := ""
		if be.mode() == "http" {
			also = ", and also lets idle HTTP clients hold connections that long"
		}
		m.out.add("haproxy/tunnel-timeout-unset", m.at(be.line),
			fmt.Sprintf("%s has no timeout tunnel: %s %s (line %d) is the WebSocket idle timeout%s", be.label(), name, fmtDur(idle), line, also),
			fmt.Sprintf("timeout tunnel %s, and keep timeout client/server short (30s)", suggestIdle(hb)))
	}
}

// lintFin checks that a backend with a tunnel timeout also bounds half-closed
// WebSockets with timeout client-fin (frontend side) and server-fin.
func (m *hModel) lintFin(be *hSection, tunnel time.Duration) {
	var missing []string
	for _, fe := range m.clientSide(be) {
		if _, _, ok := fe.timeout("client-fin"); !ok {
			missing = append(missing, "timeout client-fin")
			break
		}
	}
	if _, _, ok := be.timeout("server-fin"); !ok {
		missing = append(missing, "timeout server-fin")
	}
	if len(missing) == 0 {
		return
	}
	m.out.add("haproxy/fin-timeouts", m.at(be.line),
		fmt.Sprintf("%s has timeout tunnel %s but no %s: a WebSocket whose peer half-closed it stays open for the whole tunnel timeout", be.label(), fmtDur(tunnel), strings.Join(missing, " or ")),
		"timeout client-fin 30s and timeout server-fin 30s in the defaults section")
}

// suggestIdle proposes an idle timeout well above the heartbeat: 1h, or ten
// heartbeats when that is longer.
func suggestIdle(hb time.Duration) string {
	return fmtDur(max(time.Hour, 10*hb).Round(time.Second))
}

// arg returns args[i], or "" when there are fewer words.
func arg(args []string, i int) string {
	if i >= 0 && i < len(args) {
		return args[i]
	}
	return ""
}
