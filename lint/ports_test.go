package lint

import (
	"strconv"
	"strings"
	"testing"
)

// conns is testOptions for n WebSockets.
func conns(n int) *Options { return optWith(func(o *Options) { o.Connections = n }) }

func TestHAProxyEphemeralPortsRule(t *testing.T) {
	c := haproxyClean
	s1 := "    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2\n"
	const rule = "haproxy/ephemeral-ports"
	runRuleCases(t, TargetHAProxy, []ruleCase{
		{name: "one server, more than one source address holds", config: c, opt: conns(30_000),
			want: []string{rule + "@backend ws"}},
		{name: "one server, exactly the range", config: c, opt: conns(28_232),
			absent: []string{rule}},
		{name: "the default 5,000", config: c,
			absent: []string{rule}},
		{name: "two servers share it", config: edit(t, c, s1, s1+"    server s2 10.0.0.2:8080 check\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "two servers, still too many each", config: edit(t, c, s1, s1+"    server s2 10.0.0.2:8080 check\n"), opt: conns(60_000),
			want: []string{rule + "@backend ws"}},
		{name: "two lines, one address", config: edit(t, c, s1, s1+"    server s1-again 10.0.0.1:8080 check\n"), opt: conns(30_000),
			want: []string{rule + "@backend ws"}},
		{name: "a second line from another source address", config: edit(t, c, s1, s1+"    server s1-b 10.0.0.1:8080 check source 10.0.1.6\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "backup and disabled servers take no new WebSockets", config: edit(t, c, s1, s1+"    server s2 10.0.0.2:8080 check backup\n    server s3 10.0.0.3:8080 check disabled\n"), opt: conns(30_000),
			want: []string{rule + "@backend ws"}},
		{name: "discovered: only spare slots, more than one address holds", config: edit(t, c, s1, "    server _slot1 127.0.0.1:1 disabled\n"), opt: conns(30_000),
			want: []string{rule + "@backend ws"}},
		{name: "discovered: only spare slots, one address holds them", config: edit(t, c, s1, "    server _slot1 127.0.0.1:1 disabled\n"), opt: conns(20_000),
			absent: []string{rule}},
		{name: "source in the defaults", config: edit(t, c, "    mode http\n", "    mode http\n    source 10.0.0.5\n"), opt: conns(30_000),
			want: []string{rule + "@backend ws"}},
		{name: "usesrc: the client's address", config: edit(t, c, "    mode http\n", "    mode http\n    source 0.0.0.0 usesrc clientip\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "a port range of its own", config: edit(t, c, "    mode http\n", "    mode http\n    source 10.0.0.5:20000-60000\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "a unix socket takes no port", config: edit(t, c, s1, "    server s1 /run/app.sock check\n"), opt: conns(30_000),
			absent: []string{rule}},
	})
}

func TestNginxEphemeralPortsRule(t *testing.T) {
	c := nginxClean
	s1 := "        server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;\n"
	const rule = "nginx/ephemeral-ports"
	bind := func(b string) string {
		return edit(t, c, "        location /ws {\n", "        location /ws {\n            proxy_bind "+b+";\n")
	}
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "one server, more than one source address holds", config: c, opt: conns(30_000),
			want: []string{rule + "@upstream app"}},
		{name: "one server, the default 5,000", config: c,
			absent: []string{rule}},
		{name: "two servers share it", config: edit(t, c, s1, s1+"        server 10.0.0.2:8080;\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "down and backup servers take no new WebSockets", config: edit(t, c, s1, s1+"        server 10.0.0.2:8080 down;\n        server 10.0.0.3:8080 backup;\n"), opt: conns(30_000),
			want: []string{rule + "@upstream app"}},
		{name: "discovered, none yet (wsctl's placeholder)", config: edit(t, c, s1, "        server 127.0.0.1:1 down;\n"), opt: conns(30_000),
			want: []string{rule + "@upstream app"}},
		{name: "one proxy_bind address", config: bind("10.0.0.5"), opt: conns(30_000),
			want: []string{rule + "@upstream app"}},
		{name: "proxy_bind through split_clients", config: bind("$bind_ip"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "transparent", config: bind("$remote_addr transparent"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "two addresses in two places", config: edit(t, bind("10.0.0.5"), "        listen 80;\n", "        listen 80;\n        proxy_bind 10.0.0.6;\n"), opt: conns(30_000),
			absent: []string{rule}},
		{name: "a unix socket takes no port", config: edit(t, c, s1, "        server unix:/run/app.sock;\n"), opt: conns(30_000),
			absent: []string{rule}},
	})
}

// TestEphemeralPortsMessage: the finding names the figure and where it
// comes from, the source address, what a discovered backend needs, and
// suggests more load balancers or addresses; it is a warning, which fails
// only a strict lint.
func TestEphemeralPortsMessage(t *testing.T) {
	withSource := edit(t, haproxyClean, "    mode http\n", "    mode http\n    source 10.0.0.5\n")
	slots := edit(t, haproxyClean, "    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2\n", "    server _slot1 127.0.0.1:1 disabled\n")
	haproxyTwo := edit(t, haproxyClean, "    server s1 10.0.0.1:8080 check inter 2s fall 3 rise 2\n", "    server s1 10.0.0.1:8080 check\n    server s2 10.0.0.2:8080 check\n")
	nginxBind := edit(t, nginxClean, "        listen 80;\n", "        listen 80;\n        proxy_bind 10.0.0.5;\n")
	for _, tc := range []struct {
		name, target, config string
		connections          int
		want                 []string
	}{
		{"haproxy, source", TargetHAProxy, withSource, 30_000, []string{
			`backend "ws": 30,000 WebSockets (--connections) go to its one server address, all from source 10.0.0.5 (line ` + strconv.Itoa(lineOf(t, withSource, "source")) + ")",
			"28,232 connections to one server address (its default ephemeral port range, 32768-60999", "EADDRNOTAVAIL"}},
		{"haproxy, kernel's choice", TargetHAProxy, haproxyTwo, 60_000, []string{"spread over its 2 server addresses are about 30,000 to each, all from the one source address the kernel picks by route (no source)"}},
		{"haproxy, discovered", TargetHAProxy, slots, 60_000, []string{
			"discovered at runtime", "60,000 WebSockets (--connections) need at least 3 server addresses"}},
		{"nginx, proxy_bind", TargetNginx, nginxBind, 30_000, []string{"upstream app: 30,000 WebSockets (--connections) go to its one server address, all from", "all from proxy_bind 10.0.0.5 (line " + strconv.Itoa(lineOf(t, nginxBind, "proxy_bind")) + ")"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Lint("f", []byte(tc.config), Options{Target: tc.target, Connections: tc.connections, FDLimit: 1 << 20, CPUs: 64})
			if err != nil {
				t.Fatal(err)
			}
			var got *Finding
			for i, f := range fs {
				if strings.HasSuffix(f.Rule, "/ephemeral-ports") {
					got = &fs[i]
				}
			}
			if got == nil {
				t.Fatalf("no ephemeral-ports finding: %+v", fs)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, got.Message)
				}
			}
			for _, w := range []string{"several load balancers, each with a source address of its own", "source_address"} {
				if !strings.Contains(got.Fix, w) {
					t.Errorf("fix lacks %q:\n%s", w, got.Fix)
				}
			}
			if got.Severity != SeverityWarning || Fails([]Finding{*got}, false) || !Fails([]Finding{*got}, true) {
				t.Errorf("severity %s: want a warning that fails only a strict lint", got.Severity)
			}
		})
	}
}
