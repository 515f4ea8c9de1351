package lint

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// Chain lints nginx in front of HAProxy: the nginx config nginxData and the
// HAProxy config haproxyData, linked where an nginx location proxies to an
// address an HAProxy frontend binds. It reports only what spans the two
// (lint each file for the rest): nginx must speak HTTP/1.1 and pass Upgrade
// and Connection to HAProxy, keep idle WebSockets at least as long as
// HAProxy's timeout tunnel (so HAProxy's governs), and send X-Forwarded-For
// and X-Forwarded-Proto, which HAProxy must not overwrite for it. Configs
// that are not linked give no finding.
func Chain(nginxName string, nginxData []byte, haproxyName string, haproxyData []byte, opt Options) ([]Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	set := opt.resolve()
	ncfg, err := parseNginx(nginxName, nginxData, nil)
	if err != nil {
		return nil, err
	}
	hcfg, err := parseHAProxy(haproxyName, haproxyData)
	if err != nil {
		return nil, err
	}
	c := chain{n: newNModel(ncfg, set), h: newHModel(hcfg, set)}
	c.lint()
	return sortFindings(c.out), nil
}

// ChainFiles reads the configs at paths and lints every nginx config among
// them against every HAProxy config (see Chain). "-" (standard input) is
// left out: it was read already.
func ChainFiles(paths []string, opt Options) ([]Finding, error) {
	type file struct {
		name string
		data []byte
	}
	var nginx, haproxy []file
	for _, p := range paths {
		if p == "-" {
			continue
		}
		data, err := inputfile.Read(p, inputfile.MaxConfig)
		if err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
		switch Detect(data) {
		case TargetNginx:
			nginx = append(nginx, file{p, data})
		case TargetHAProxy:
			haproxy = append(haproxy, file{p, data})
		}
	}
	out := []Finding{}
	for _, n := range nginx {
		for _, h := range haproxy {
			fs, err := Chain(n.name, n.data, h.name, h.data, opt)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
		}
	}
	return out, nil
}

type chain struct {
	n   *nModel
	h   *hModel
	out findings
}

// lint links every proxied nginx location to the HAProxy frontends it
// reaches and checks each link once.
func (c *chain) lint() {
	for _, l := range c.n.locations {
		var fes []*hSection
		for _, addr := range c.passAddrs(l) {
			if fe := c.frontendAt(addr); fe != nil && !slices.Contains(fes, fe) {
				fes = append(fes, fe)
			}
		}
		for _, fe := range fes {
			c.link(l, fe)
		}
	}
}

// passAddrs returns the host:port addresses a location proxies to: the
// servers of the upstreams its proxy_pass names (directly or through a map
// on $http_upgrade), or the address itself.
func (c *chain) passAddrs(l *nLocation) []string {
	var addrs []string
	for _, d := range l.d.block {
		if d.name != "proxy_pass" || len(d.args) == 0 {
			continue
		}
		names := []string{proxyHost(d.args[0])}
		if mp := c.n.maps[names[0]]; mp != nil {
			names = names[:0]
			for _, e := range mp.block {
				names = append(names, arg(e.args, 0))
			}
		}
		for _, name := range names {
			u := c.n.upstreams[name]
			if u == nil {
				rest := d.args[0]
				if _, r, ok := strings.Cut(rest, "://"); ok {
					rest = r
				}
				host, _, _ := strings.Cut(rest, "/")
				addrs = append(addrs, host)
				continue
			}
			for _, s := range u.block {
				if s.name == "server" {
					addrs = append(addrs, arg(s.args, 0))
				}
			}
		}
	}
	return addrs
}

// frontendAt returns the HAProxy frontend (or listen) bound where addr
// points, or nil.
func (c *chain) frontendAt(addr string) *hSection {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	for _, s := range c.h.cfg.sections {
		if !s.hasFrontend() {
			continue
		}
		for _, b := range s.all("bind") {
			bh, bp, err := net.SplitHostPort(arg(b.args, 1))
			if err == nil && bp == port && (bh == host || everyAddr(bh) || loopback(bh) && loopback(host)) {
				return s
			}
		}
	}
	return nil
}

func everyAddr(h string) bool { return h == "" || h == "*" || h == "0.0.0.0" || h == "::" }

func loopback(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// hat is where line of the HAProxy config is, for a finding.
func (c *chain) hat(line int) pos { return pos{file: c.h.cfg.file, line: line} }

// link checks nginx location l proxying to HAProxy frontend fe.
func (c *chain) link(l *nLocation, fe *hSection) {
	where := fmt.Sprintf("%s proxies to HAProxy %s (%s)", l.label(), fe.label(), c.hat(fe.line).from(l.d.at))
	if d, ok := l.value("proxy_http_version"); !ok || arg(d.args, 0) != "1.1" {
		c.out.add("chain/http-version", l.d.at,
			where+" over HTTP/1.0: the upgrade never reaches HAProxy and no connection to it is kept alive",
			"proxy_http_version 1.1;")
	}
	hs, _ := l.headers()
	has := func(name string) bool {
		return slices.ContainsFunc(hs, func(d *nDirective) bool { return strings.EqualFold(d.args[0], name) })
	}
	for _, h := range []string{"Upgrade", "Connection"} {
		if !has(h) {
			c.out.add("chain/upgrade-headers", l.d.at,
				fmt.Sprintf("%s without passing the %s header: HAProxy sees a plain request and WebSocket handshakes fail", where, h),
				"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; with "+whitelistMap)
		}
	}
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto"} {
		if !has(h) {
			c.out.add("chain/forwarded", l.d.at,
				fmt.Sprintf("%s without setting %s: the backends behind HAProxy never learn the client's address or scheme", where, h),
				"proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Forwarded-Proto $scheme;")
		}
	}
	for _, r := range fe.all("http-request") {
		if len(r.args) < 3 || (r.args[1] != "set-header" && r.args[1] != "del-header") ||
			!strings.EqualFold(r.args[2], "X-Forwarded-For") && !strings.EqualFold(r.args[2], "X-Forwarded-Proto") ||
			slices.Contains(r.args, "if") || slices.Contains(r.args, "unless") {
			continue
		}
		c.out.add("chain/forwarded", c.hat(r.line),
			fmt.Sprintf("http-request %s %s applies to nginx's requests too: the client's %s that nginx sends (%s) never reaches the backends", r.args[1], r.args[2], r.args[2], l.d.at.from(c.hat(r.line))),
			fmt.Sprintf("add: unless { src <nginx's address> } (trust only the front layer), e.g. http-request %s unless { src 127.0.0.1 }", strings.Join(r.args[1:], " ")))
	}
	c.timeouts(l, fe, where)
}

// timeouts checks that nginx keeps an idle WebSocket at least as long as the
// longest timeout tunnel of the backends fe routes to, so HAProxy's governs.
func (c *chain) timeouts(l *nLocation, fe *hSection, where string) {
	var tunnel time.Duration
	var tl hLine
	for _, be := range c.h.ws {
		if !slices.Contains(c.h.routers[be], fe) {
			continue
		}
		if d, line, ok := be.timeout("tunnel"); ok && d > tunnel {
			tunnel, tl = d, line
		}
	}
	if tunnel == 0 {
		return // unset: HAProxy's own rules report it
	}
	for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
		t, at := nginxDefaultTimeout, l.d.at
		if d, ok := l.value(name); ok {
			v, err := parseNginxTime(strings.Join(d.args, " "))
			if err != nil {
				continue
			}
			t, at = v, d.at
		}
		if t >= tunnel {
			continue
		}
		c.out.add("chain/timeout", at,
			fmt.Sprintf("%s: %s %s is below HAProxy's timeout tunnel %s (%s), so nginx cuts idle WebSockets first and HAProxy's timeout never governs", where, name, fmtDur(t), fmtDur(tunnel), c.hat(tl.line).from(at)),
			fmt.Sprintf("%s %s; or more (wsctl renders HAProxy's tunnel plus its client-fin)", name, fmtDur(tunnel)))
	}
}
