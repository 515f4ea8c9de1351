package lint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// nginxDefaultWorkerConnections is worker_connections when unset.
const nginxDefaultWorkerConnections = 512

// lintMain checks the main context: how many WebSockets the workers can
// hold, their file-descriptor limit, and how long old workers live.
func (m *nModel) lintMain() {
	first := m.main[0].at
	find := func(ds []*nDirective, name string) *nDirective {
		if i := slices.IndexFunc(ds, named(name)); i >= 0 {
			return ds[i]
		}
		return nil
	}
	workers, workersText, cpus := 1, "1 worker process (the default)", ""
	if d := find(m.main, "worker_processes"); d != nil {
		if arg(d.args, 0) == "auto" {
			workers, workersText = m.opt.CPUs, fmt.Sprintf("%d worker processes (auto, one per CPU)", m.opt.CPUs)
			cpus = m.opt.assumedCPUs
		} else if n, err := strconv.Atoi(arg(d.args, 0)); err == nil && n > 0 {
			workers, workersText = n, fmt.Sprintf("%d worker processes", n)
		}
	}
	wc, wcAt, wcText := nginxDefaultWorkerConnections, first, "worker_connections 512 (the default)"
	if ev := find(m.main, "events"); ev != nil {
		wcAt = ev.at
		if d := find(ev.block, "worker_connections"); d != nil {
			if n, err := strconv.Atoi(arg(d.args, 0)); err == nil {
				wc, wcAt, wcText = n, d.at, fmt.Sprintf("worker_connections %s", fmtInt(n))
			}
		}
	}
	if need := 2 * m.opt.Connections; wc*workers < need {
		perWorker := (need + workers - 1) / workers
		m.out.addAssuming("nginx/worker-connections", wcAt,
			fmt.Sprintf("%s x %s = %s connections, %s WebSockets (each holds a client and an upstream connection); %s WebSockets (--connections) need %s: beyond that nginx logs \"worker_connections are not enough\" and refuses new clients",
				wcText, workersText, fmtInt(wc*workers), fmtInt(wc*workers/2), fmtInt(m.opt.Connections), fmtInt(need)),
			fmt.Sprintf("worker_connections %d; (with %s) and worker_rlimit_nofile above it", perWorker, workersText),
			m.opt.assumedConnections, cpus)
	}
	m.lintRlimit(find(m.main, "worker_rlimit_nofile"), wc, first)
	if d := find(m.main, "worker_shutdown_timeout"); d == nil {
		m.out.add("nginx/shutdown-timeout", first,
			"no worker_shutdown_timeout: after every reload the old workers keep running for as long as their WebSockets live (a generation of workers and its memory per reload)",
			"worker_shutdown_timeout 30m; (old workers then close what is left and exit)")
	} else {
		m.out.add("nginx/reload-handover", d.at,
			fmt.Sprintf("after a reload the old workers keep their WebSockets until worker_shutdown_timeout %s, then cut every one left in the same instant: nginx has no runtime API to close them at a paced rate, as wsctl does for HAProxy (wsctl reload, the agent)", arg(d.args, 0)),
			"reload only for structural changes (the wsctl agent coalesces them); keep worker_shutdown_timeout above the usual WebSocket lifetime; or let the application close its WebSockets spread over time")
	}
}

// lintRlimit checks worker_rlimit_nofile d against worker_connections wc
// and the host's hard limit.
func (m *nModel) lintRlimit(d *nDirective, wc int, first pos) {
	fix := fmt.Sprintf("worker_rlimit_nofile %d; (about twice worker_connections)", 2*wc)
	if limit := m.opt.statedFDLimit(); limit > 0 && 2*wc > limit {
		fix = fmt.Sprintf("worker_rlimit_nofile %d; (this host's hard limit) and worker_connections below it", limit)
	}
	if d == nil {
		m.out.add("nginx/rlimit-nofile", first,
			fmt.Sprintf("no worker_rlimit_nofile: workers inherit the service's open-file limit (often 1024), which can be below worker_connections %s: \"Too many open files\" before the connection limit", fmtInt(wc)),
			fix)
		return
	}
	n, err := strconv.Atoi(arg(d.args, 0))
	switch {
	case err != nil:
	case n < wc:
		m.out.add("nginx/rlimit-nofile", d.at,
			fmt.Sprintf("worker_rlimit_nofile %s is below worker_connections %s: workers run out of file descriptors (\"Too many open files\") before their connection limit", fmtInt(n), fmtInt(wc)),
			fix)
	case m.opt.FDLimit > 0 && n > m.opt.FDLimit:
		m.out.addAssuming("nginx/rlimit-nofile", d.at,
			fmt.Sprintf("worker_rlimit_nofile %s is above this host's hard limit of %s: setrlimit fails and workers keep the limit they started with", fmtInt(n), fmtInt(m.opt.FDLimit)),
			fix, m.opt.assumedFDLimit)
	}
}

// balancers are the upstream directives that choose a load-balancing method.
var balancers = []string{"least_conn", "ip_hash", "hash", "random"}

// lintUpstreams checks the upstreams the WebSocket locations proxy to, and
// those no location proxies to yet (WebSockets may be routed to them next):
// only an upstream that carries plain HTTP alone is left out.
func (m *nModel) lintUpstreams() {
	unused := m.unusedUpstreams()
	for _, u := range unused {
		m.out.add("nginx/unused-upstream", u.at,
			fmt.Sprintf("upstream %s: no location proxies to it, so nginx sends it nothing; it is linted as a WebSocket upstream all the same", u.args[0]),
			fmt.Sprintf("proxy_pass http://%s; in the location meant to use it, or delete it", u.args[0]))
	}
	us := append(m.upstreamsOf(), unused...)
	sortByPos(us)
	for _, u := range us {
		var method *nDirective
		var noFails, zeroFails []string
		var failsAt pos
		zone := slices.ContainsFunc(u.block, named("zone"))
		for _, d := range u.block {
			switch {
			case slices.Contains(balancers, d.name):
				method = d
			case d.name == "keepalive" && method == nil && slices.ContainsFunc(u.block, named(balancers...)):
				m.out.add("nginx/keepalive-order", d.at,
					"keepalive comes before the balancing method, which then replaces it: connections to the servers are not kept alive",
					"move keepalive after "+u.block[slices.IndexFunc(u.block, named(balancers...))].name)
			case d.name == "server":
				m.lintUpstreamServer(d, method)
				switch {
				case slices.Contains(d.args, "down"):
					continue
				case !hasParam(d.args, "max_fails="):
					noFails = append(noFails, arg(d.args, 0))
				case slices.Contains(d.args, "max_fails=0"):
					zeroFails = append(zeroFails, arg(d.args, 0))
				default:
					continue
				}
				if failsAt == (pos{}) {
					failsAt = d.at
				}
			}
		}
		if method != nil && method.name == "ip_hash" {
			m.out.add("nginx/ip-hash", method.at,
				fmt.Sprintf("upstream %s uses ip_hash, which hashes the first three octets of the client address: everyone behind one NAT, proxy or /24 lands on one server", u.args[0]),
				"least_conn; with zone (or hash $cookie_<name> consistent; when clients must return to one server)")
		}
		// One server (nginx behind a front layer, say, or HAProxy as the
		// upstream) leaves nothing to balance.
		servers := len(slices.DeleteFunc(slices.Clone(u.block), func(d *nDirective) bool { return d.name != "server" }))
		switch {
		case method == nil && servers > 1:
			m.out.add("nginx/balance", u.at,
				fmt.Sprintf("upstream %s balances round-robin: each server gets the same share of new WebSockets however many long-lived ones it already holds", u.args[0]),
				fmt.Sprintf("least_conn; and zone %s 64k;", u.args[0]))
		case method != nil && method.name == "hash" && !slices.Contains(method.args, "consistent"):
			m.out.add("nginx/balance", method.at,
				fmt.Sprintf("hash %s without consistent: adding or removing one server moves most clients to another server, and they all reconnect", arg(method.args, 0)),
				fmt.Sprintf("hash %s consistent;", arg(method.args, 0)))
		}
		if method != nil && method.name == "least_conn" && !zone {
			m.out.add("nginx/least-conn-zone", method.at,
				fmt.Sprintf("upstream %s uses least_conn without zone: each worker counts only its own connections, so long-lived WebSockets are spread unevenly", u.args[0]),
				fmt.Sprintf("zone %s 64k;", u.args[0]))
		}
		if len(noFails)+len(zeroFails) > 0 {
			var parts []string
			if len(noFails) > 0 {
				parts = append(parts, fmt.Sprintf("%s no max_fails, so one failed attempt takes a server out for fail_timeout (10s)", plural(noFails, "has")))
			}
			if len(zeroFails) > 0 {
				parts = append(parts, fmt.Sprintf("%s max_fails=0, so a dead server is never taken out", plural(zeroFails, "has")))
			}
			m.out.add("nginx/max-fails", failsAt,
				fmt.Sprintf("upstream %s: %s; nginx 1.22 has no active health checks", u.args[0], strings.Join(parts, "; ")),
				"server ... max_fails=3 fail_timeout=10s;")
		}
		m.lintSourcePorts(u)
	}
}

// lintUpstreamServer flags a backup server under a hash method.
func (m *nModel) lintUpstreamServer(d, method *nDirective) {
	if method != nil && (method.name == "ip_hash" || method.name == "hash") && slices.Contains(d.args, "backup") {
		m.out.add("nginx/backup-hash", d.at,
			fmt.Sprintf("backup with %s: nginx refuses to start (\"balancing method does not support parameter backup\")", method.name),
			"remove backup, or balance with least_conn or round-robin")
	}
}

// plural writes `server a has` or `servers a, b have`.
func plural(names []string, verb string) string {
	if len(names) == 1 {
		return "server " + names[0] + " " + verb
	}
	return "servers " + strings.Join(names, ", ") + " have"
}

// hasParam reports whether args has a parameter starting with prefix.
func hasParam(args []string, prefix string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, prefix) })
}
