package lint

import (
	"slices"
	"testing"
	"time"
)

// haproxyClean is a minimal WebSocket-correct HAProxy config: no findings.
const haproxyClean = `global
    maxconn 5000
    hard-stop-after 30m
    stats socket /run/haproxy/admin.sock mode 600 level admin

defaults
    mode http
    option redispatch
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout client-fin 30s
    timeout server-fin 30s

frontend fe
    bind :80
    default_backend ws

backend ws
    balance leastconn
` + haproxyHandshakeCheck + `    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2

frontend stats
    bind 127.0.0.1:8404
    http-request use-service prometheus-exporter if { path /metrics }
`

// haproxyHandshakeCheck is the WebSocket handshake check of haproxyClean.
const haproxyHandshakeCheck = `    option httpchk
    http-check send meth GET uri /ws ver HTTP/1.1 hdr Host example.com hdr Connection Upgrade hdr Upgrade websocket hdr Sec-WebSocket-Key dGhlIHNhbXBsZSBub25jZQ== hdr Sec-WebSocket-Version 13
    http-check expect status 101
`

func TestHAProxyCleanConfig(t *testing.T) {
	fs, err := Lint("haproxy.cfg", []byte(haproxyClean), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Errorf("got %d findings, want none: %+v", len(fs), fs)
	}
}

func TestHAProxyMetricsRule(t *testing.T) {
	c := haproxyClean
	exporter := "    http-request use-service prometheus-exporter if { path /metrics }\n"
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "neither stats page nor exporter", config: edit(t, c, exporter, ""),
			want: []string{"haproxy/metrics@global"}},
		{name: "stats page only", config: edit(t, c, exporter, "    stats enable\n"),
			absent: []string{"haproxy/metrics"}},
		{name: "stats uri in a listen", config: edit(t, c, "frontend stats\n    bind 127.0.0.1:8404\n"+exporter, "listen stats\n    bind 127.0.0.1:8404\n    stats uri /\n"),
			absent: []string{"haproxy/metrics"}},
		{name: "a stats socket is not a stats page", config: edit(t, c, exporter, "    stats socket /tmp/x.sock\n"),
			want: []string{"haproxy/metrics@global"}},
	})
}

func TestHAProxyTimeoutRules(t *testing.T) {
	c := haproxyClean
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "tunnel at the heartbeat", config: edit(t, c, "timeout tunnel 1h", "timeout tunnel 30s"),
			want: []string{"haproxy/tunnel-timeout@timeout tunnel 30s"}},
		{name: "tunnel below a longer heartbeat", config: c, opt: optWith(func(o *Options) { o.Heartbeat = 2 * time.Hour }),
			want: []string{"haproxy/tunnel-timeout@timeout tunnel 1h"}},
		{name: "no tunnel, short client and server", config: edit(t, c, "    timeout tunnel 1h\n", ""),
			want: []string{"haproxy/tunnel-timeout@backend ws"}, absent: []string{"haproxy/tunnel-timeout-unset"}},
		{name: "tunnel 0 means unset", config: edit(t, c, "timeout tunnel 1h", "timeout tunnel 0"),
			want: []string{"haproxy/tunnel-timeout@backend ws"}},
		{name: "no tunnel, long client and server", config: edit(t, c, "    timeout tunnel 1h\n", "", "timeout client 30s", "timeout client 1h", "timeout server 30s", "timeout server 1h"),
			want: []string{"haproxy/tunnel-timeout-unset@backend ws"}, absent: []string{"haproxy/tunnel-timeout"}},
		{name: "short client timeout of the routing frontend", config: edit(t, c, "    timeout tunnel 1h\n", "", "timeout server 30s", "timeout server 1h", "    bind :80\n", "    bind :80\n    timeout client 10s\n"),
			want: []string{"haproxy/tunnel-timeout@backend ws"}},
		{name: "no timeouts at all", config: edit(t, c, "    timeout tunnel 1h\n", "", "    timeout client 30s\n", "", "    timeout server 30s\n", ""),
			want: []string{"haproxy/tunnel-timeout-unset@backend ws"}},
		{name: "no fin timeouts", config: edit(t, c, "    timeout client-fin 30s\n", "", "    timeout server-fin 30s\n", ""),
			want: []string{"haproxy/fin-timeouts@backend ws"}},
		{name: "no fin timeouts without a tunnel is not reported", config: edit(t, c, "    timeout tunnel 1h\n", "", "    timeout client-fin 30s\n", ""),
			absent: []string{"haproxy/fin-timeouts"}},
		{name: "tunnel in a frontend is ignored", config: edit(t, c, "    bind :80\n", "    bind :80\n    timeout tunnel 2h\n"),
			want: []string{"haproxy/timeout-ignored@timeout tunnel 2h"}},
		{name: "client timeout in a backend is ignored", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    timeout client 1h\n"),
			want: []string{"haproxy/timeout-ignored@timeout client 1h"}},
		{name: "tunnel above 24.8 days", config: edit(t, c, "timeout tunnel 1h", "timeout tunnel 30d"),
			want: []string{"haproxy/timeout-value@timeout tunnel 30d"}},
		{name: "unknown unit", config: edit(t, c, "timeout connect 5s", "timeout connect 5x"),
			want: []string{"haproxy/timeout-value@timeout connect 5x"}},
	})
}

func TestHAProxyGlobalRules(t *testing.T) {
	c := haproxyClean
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "no hard-stop-after", config: edit(t, c, "    hard-stop-after 30m\n", ""),
			want: []string{"haproxy/hard-stop-after@global"}},
		{name: "no stats socket", config: edit(t, c, "    stats socket /run/haproxy/admin.sock mode 600 level admin\n", ""),
			want: []string{"haproxy/stats-socket@global"}},
		{name: "stats socket at the default level", config: edit(t, c, " level admin", ""),
			want: []string{"haproxy/stats-socket@stats socket"}},
		{name: "no maxconn", config: edit(t, c, "    maxconn 5000\n", ""),
			want: []string{"haproxy/maxconn-missing@global"}},
		{name: "maxconn above the fd limit", config: edit(t, c, "maxconn 5000", "maxconn 100000"),
			want: []string{"haproxy/maxconn-fd-limit@maxconn 100000"}},
		{name: "maxconn fits a larger limit", config: edit(t, c, "maxconn 5000", "maxconn 100000"), opt: optWith(func(o *Options) { o.FDLimit = 1 << 20 }),
			absent: []string{"haproxy/maxconn-fd-limit"}},
		{name: "ulimit-n above the fd limit", config: edit(t, c, "    maxconn 5000\n", "    maxconn 5000\n    ulimit-n 50000\n"),
			want: []string{"haproxy/maxconn-fd-limit@ulimit-n 50000"}},
		{name: "global maxconn below the connections", config: edit(t, c, "maxconn 5000", "maxconn 2000"),
			want: []string{"haproxy/maxconn-low@maxconn 2000"}},
		{name: "frontend maxconn below the connections", config: edit(t, c, "    bind :80\n", "    bind :80\n    maxconn 100\n"),
			want: []string{"haproxy/maxconn-low@maxconn 100"}},
		{name: "nbproc", config: edit(t, c, "    maxconn 5000\n", "    maxconn 5000\n    nbproc 2\n"),
			want: []string{"haproxy/removed-keyword@nbproc 2"}},
		{name: "option forceclose and http-tunnel", config: edit(t, c, "    option redispatch\n", "    option redispatch\n    option forceclose\n    option http-tunnel\n"),
			want: []string{"haproxy/removed-keyword@option forceclose", "haproxy/removed-keyword@option http-tunnel"}},
		{name: "option http-server-close", config: edit(t, c, "    option redispatch\n", "    option redispatch\n    option http-server-close\n"),
			want: []string{"haproxy/httpclose@http-server-close"}},
		{name: "Upgrade header deleted", config: edit(t, c, "    bind :80\n", "    bind :80\n    http-request del-header Upgrade\n"),
			want: []string{"haproxy/upgrade-header-removed@del-header Upgrade"}},
		{name: "Connection set to close", config: edit(t, c, "    bind :80\n", "    bind :80\n    http-request set-header Connection close\n"),
			want: []string{"haproxy/upgrade-header-removed@set-header Connection"}},
		{name: "conditional rewrite is not judged", config: edit(t, c, "    bind :80\n", "    bind :80\n    http-request del-header Upgrade if { path_beg /api }\n"),
			absent: []string{"haproxy/upgrade-header-removed"}},
	})
}

func TestHAProxyBackendRules(t *testing.T) {
	c := haproxyClean
	server := "    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2\n"
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "round-robin by default", config: edit(t, c, "    balance leastconn\n", ""),
			want: []string{"haproxy/balance@backend ws"}},
		{name: "explicit roundrobin", config: edit(t, c, "balance leastconn", "balance roundrobin"),
			want: []string{"haproxy/balance@balance roundrobin"}},
		{name: "roundrobin with a sticky cookie", config: edit(t, c, "    balance leastconn\n", "    balance roundrobin\n    cookie S insert indirect nocache\n"),
			absent: []string{"haproxy/balance", "haproxy/cookie-flags", "haproxy/redispatch"}},
		{name: "roundrobin with a stick table", config: edit(t, c, "    balance leastconn\n", "    balance roundrobin\n    stick-table type ip size 1m\n    stick on src\n"),
			absent: []string{"haproxy/balance"}},
		{name: "balance source without consistent hashing", config: edit(t, c, "balance leastconn", "balance source"),
			want: []string{"haproxy/hash-type@balance source"}},
		{name: "balance source with consistent hashing", config: edit(t, c, "balance leastconn", "balance source\n    hash-type consistent"),
			absent: []string{"haproxy/hash-type"}},
		{name: "cookie without nocache", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    cookie S insert indirect\n"),
			want: []string{"haproxy/cookie-flags@cookie S"}},
		{name: "cookie in tcp mode", config: edit(t, c, "    balance leastconn\n", "    mode tcp\n    cookie S insert indirect nocache\n"),
			want: []string{"haproxy/cookie-tcp-mode@cookie S", "haproxy/balance@backend ws"}},
		{name: "dynamic cookie without a key", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    cookie S insert indirect nocache dynamic\n"),
			want: []string{"haproxy/dynamic-cookie-key@cookie S"}},
		{name: "dynamic cookie with a key", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    cookie S insert indirect nocache dynamic\n    dynamic-cookie-key s3cr3t\n"),
			absent: []string{"haproxy/dynamic-cookie-key"}},
		{name: "cookie without redispatch", config: edit(t, c, "    option redispatch\n", "", "    balance leastconn\n", "    balance leastconn\n    cookie S insert indirect nocache\n"),
			want: []string{"haproxy/redispatch@backend ws"}},
		{name: "redispatch cancelled in the backend", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    no option redispatch\n    cookie S insert indirect nocache\n"),
			want: []string{"haproxy/redispatch@backend ws"}},
		{name: "servers without check", config: edit(t, c, server, "    server s1 10.0.0.1:8080\n    server s2 10.0.0.2:8080\n"),
			want: []string{"haproxy/health-check@server s1"}},
		{name: "check from default-server", config: edit(t, c, server, "    default-server check inter 2s fall 3 rise 2\n    server s1 10.0.0.1:8080\n"),
			absent: []string{"haproxy/health-check", "haproxy/check-params"}},
		{name: "check without inter fall rise", config: edit(t, c, server, "    server s1 10.0.0.1:8080 check\n"),
			want: []string{"haproxy/check-params@server s1"}},
		{name: "on-marked-down shutdown-sessions", config: edit(t, c, server, "    server s1 10.0.0.1:8080 check inter 2s on-marked-down shutdown-sessions\n"),
			want: []string{"haproxy/shutdown-sessions@server s1"}},
		{name: "four-argument option httpchk", config: edit(t, c, "    balance leastconn\n", "    balance leastconn\n    option httpchk GET /health HTTP/1.1 example.com\n"),
			want: []string{"haproxy/httpchk-args@option httpchk"}},
	})
}

func TestHAProxyWebSocketCheck(t *testing.T) {
	c := edit(t, haproxyClean, haproxyHandshakeCheck, "")
	check := func(lines string) string {
		return edit(t, c, "    balance leastconn\n", "    balance leastconn\n"+lines)
	}
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "working handshake check", config: check("    option httpchk\n    http-check send meth GET uri /ws ver HTTP/1.1 hdr Host x hdr Connection Upgrade hdr Upgrade websocket hdr Sec-WebSocket-Key dGhlIHNhbXBsZSBub25jZQ== hdr Sec-WebSocket-Version 13\n    http-check expect status 101\n"),
			absent: []string{"haproxy/ws-check"}},
		{name: "no Sec-WebSocket-Key", config: check("    option httpchk\n    http-check send meth GET uri /ws ver HTTP/1.1 hdr Host x hdr Connection Upgrade hdr Upgrade websocket\n    http-check expect status 101\n"),
			want: []string{"haproxy/ws-check@http-check send"}},
		{name: "HTTP/1.0 by default", config: check("    option httpchk\n    http-check send meth GET uri /ws hdr Connection Upgrade hdr Upgrade websocket hdr Sec-WebSocket-Key a2V5\n"),
			want: []string{"haproxy/ws-check@http-check send"}},
		{name: "101 expected without an upgrade", config: check("    option httpchk GET /ws\n    http-check expect status 101\n"),
			want: []string{"haproxy/ws-check@option httpchk"}},
		{name: "plain health check", config: check("    option httpchk GET /health\n    http-check expect status 200\n"),
			absent: []string{"haproxy/ws-check"}},
		{name: "tcp-check handshake without a key", config: check("    option tcp-check\n    tcp-check send \"GET /ws HTTP/1.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n\"\n"),
			want: []string{"haproxy/ws-check@tcp-check send"}, absent: []string{"haproxy/ws-readiness-check"}},
		{name: "a TCP check proves the process runs, not the WebSocket", config: c,
			want: []string{"haproxy/ws-readiness-check@backend ws"}},
		{name: "GET /health expecting 200 proves the process runs, not the WebSocket", config: check("    option httpchk GET /health\n    http-check expect status 200\n"),
			want: []string{"haproxy/ws-readiness-check@option httpchk"}},
		{name: "the handshake check is readiness", config: haproxyClean,
			absent: []string{"haproxy/ws-readiness-check"}},
		{name: "no readiness note without any check", config: edit(t, c, " check inter 2s fall 3 rise 2", ""),
			want: []string{"haproxy/health-check@server s1"}, absent: []string{"haproxy/ws-readiness-check"}},
	})
}

func TestHAProxyDefaultsAndWebSocketBackends(t *testing.T) {
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "named defaults with from", config: edit(t, haproxyClean,
			"defaults\n", "defaults short\n    mode http\n    timeout client 30s\n    timeout server 30s\n\ndefaults\n",
			"\nbackend ws\n", "\nbackend ws from short\n"),
			want: []string{"haproxy/tunnel-timeout@backend ws"}},
		{name: "a later defaults section starts afresh", config: edit(t, haproxyClean,
			"\nbackend ws\n", "\ndefaults\n    mode http\n    timeout server 30s\n\nbackend ws\n"),
			want: []string{"haproxy/tunnel-timeout@backend ws"}},
		{name: "only the backend routed by an Upgrade ACL is a WebSocket backend", config: edit(t, haproxyClean,
			"    default_backend ws\n", "    acl is_ws hdr(Upgrade) -i websocket\n    use_backend app if is_ws\n    default_backend web\n",
			"\nbackend ws\n", "\nbackend web\n    balance roundrobin\n    server w1 10.0.0.3:80 check inter 2s\n\nbackend app\n"),
			absent: []string{"haproxy/balance"}},
		{name: "an inline Upgrade ACL", config: edit(t, haproxyClean,
			"    default_backend ws\n", "    use_backend app if { hdr(upgrade) -i websocket }\n    default_backend web\n",
			"backend ws\n    balance leastconn\n", "backend web\n    balance roundrobin\n    server w1 10.0.0.3:80 check inter 2s\n\nbackend app\n    balance static-rr\n"),
			want: []string{"haproxy/balance@balance static-rr"}},
		{name: "no signs: every http backend", config: edit(t, haproxyClean,
			"backend ws\n    balance leastconn\n", "backend app\n    balance roundrobin\n"),
			want: []string{"haproxy/balance@balance roundrobin"}},
	})
}

func TestHAProxyParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"unmatched quote", "global\n    log \"/dev/log local0\n", `lint: parse h.cfg:2: unmatched quote "`},
		{"outside any section", "maxconn 100\nglobal\n", `lint: parse h.cfg:1: "maxconn" is outside any section`},
		{"unknown defaults", "defaults a\nbackend b from c\n", `lint: parse h.cfg:2: backend "b": defaults section "c" not found`},
		{"no section", "# nothing\n", "lint: parse h.cfg: no HAProxy section (global, defaults, frontend, backend, listen)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lint("h.cfg", []byte(tc.config), Options{Target: TargetHAProxy})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestSplitHAProxyLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"  server s1 10.0.0.1:80 check # comment", []string{"server", "s1", "10.0.0.1:80", "check"}},
		{`http-check send hdr Host "a b" hdr X 'c d'`, []string{"http-check", "send", "hdr", "Host", "a b", "hdr", "X", "c d"}},
		{`option httpchk GET / HTTP/1.1\r\nHost:\ x`, []string{"option", "httpchk", "GET", "/", "HTTP/1.1\r\nHost: x"}},
		{`acl a path_beg "/a#b"`, []string{"acl", "a", "path_beg", "/a#b"}},
		{"\t# only a comment", nil},
	} {
		got, err := splitHAProxyLine(tc.line)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitHAProxyLine(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}
