package lint

import (
	"strings"
	"testing"
	"time"
)

// nginxClean is a minimal WebSocket-correct nginx config: no findings.
const nginxClean = `worker_processes 2;
worker_rlimit_nofile 16384;
worker_shutdown_timeout 30m;

events {
    worker_connections 8192;
}

http {
    map $http_upgrade $connection_upgrade {
        "~*^websocket$" upgrade;
        default "";
    }

    upstream app {
        least_conn;
        zone app 64k;
        server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;
        keepalive 8;
    }

    server {
        listen 80;

        location /ws {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }
    }

    server {
        listen 127.0.0.1:8404;

        location = /stub_status {
            stub_status;
        }
    }
}
`

func TestNginxCleanConfig(t *testing.T) {
	fs, err := Lint("nginx.conf", []byte(nginxClean), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if fs = withoutReloadInfo(fs); len(fs) != 0 {
		t.Errorf("got %d findings, want none: %+v", len(fs), fs)
	}
}

func TestNginxLocationRules(t *testing.T) {
	c := nginxClean
	hb90 := optWith(func(o *Options) { o.Heartbeat = 90 * time.Second })
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "no proxy_http_version", config: edit(t, c, "            proxy_http_version 1.1;\n", ""),
			want: []string{"nginx/http-version@location /ws"}},
		{name: "proxy_http_version 1.0", config: edit(t, c, "proxy_http_version 1.1;", "proxy_http_version 1.0;"),
			want: []string{"nginx/http-version@proxy_http_version 1.0"}},
		{name: "no Upgrade header", config: edit(t, c, "            proxy_set_header Upgrade $http_upgrade;\n", ""),
			want: []string{"nginx/upgrade-header@location /ws"}},
		{name: "no Connection header", config: edit(t, c, "            proxy_set_header Connection $connection_upgrade;\n", ""),
			want: []string{"nginx/connection-header@location /ws"}},
		{name: "Connection close", config: edit(t, c, "Connection $connection_upgrade", `Connection "close"`),
			want: []string{"nginx/connection-header@proxy_set_header Connection"}},
		{name: "Connection hard-coded", config: edit(t, c, "Connection $connection_upgrade", `Connection "upgrade"`),
			want: []string{"nginx/connection-hardcoded@proxy_set_header Connection"}},
		{name: "a map that upgrades any token", config: edit(t, c, `default "";`, "default upgrade;"),
			want: []string{"nginx/upgrade-whitelist@default upgrade"}},
		{name: "Connection from the client", config: edit(t, c, "Connection $connection_upgrade", "Connection $http_connection"),
			want: []string{"nginx/upgrade-whitelist@proxy_set_header Connection"}},
		{name: "read timeout at the heartbeat", config: edit(t, c, "proxy_read_timeout 1h;", "proxy_read_timeout 30;"),
			want: []string{"nginx/read-timeout@proxy_read_timeout 30"}},
		{name: "default read timeout under a long heartbeat", config: edit(t, c, "            proxy_read_timeout 1h;\n", ""), opt: hb90,
			want: []string{"nginx/read-timeout@location /ws"}},
		{name: "default read timeout above the heartbeat", config: edit(t, c, "            proxy_read_timeout 1h;\n", ""),
			absent: []string{"nginx/read-timeout"}},
		{name: "read timeout inherited from http", config: edit(t, c, "            proxy_read_timeout 1h;\n", "", "http {\n", "http {\n    proxy_read_timeout 1m 30s;\n"), opt: hb90,
			want: []string{"nginx/read-timeout@proxy_read_timeout 1m 30s"}},
		{name: "send timeout below the heartbeat", config: edit(t, c, "proxy_send_timeout 1h;", "proxy_send_timeout 10s;"),
			want: []string{"nginx/send-timeout@proxy_send_timeout 10s"}},
		{name: "buffering left on", config: edit(t, c, "            proxy_buffering off;\n", ""),
			want: []string{"nginx/buffering@location /ws"}},
		{name: "buffering on at server level", config: edit(t, c, "            proxy_buffering off;\n", "", "        listen 80;\n", "        listen 80;\n        proxy_buffering on;\n"),
			want: []string{"nginx/buffering@proxy_buffering on"}},
	})
}

func TestNginxHeaderInheritance(t *testing.T) {
	headers := "            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n"
	atServer := edit(t, nginxClean, headers, "", "        listen 80;\n", "        listen 80;\n"+headers)
	dropped := edit(t, atServer, "proxy_pass http://app;", "proxy_pass http://app;\n            proxy_set_header X-Real-IP $remote_addr;")
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "headers inherited from the server", config: atServer,
			absent: []string{"nginx/upgrade-header", "nginx/connection-header", "nginx/http-version"}},
		{name: "a header of its own drops the inherited ones", config: dropped,
			want: []string{"nginx/upgrade-header@location /ws", "nginx/connection-header@location /ws"}},
	})
	fs, err := Lint("nginx.conf", []byte(dropped), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	fs = withoutReloadInfo(fs)
	if want := "replaces every inherited one"; len(fs) == 0 || !strings.Contains(fs[0].Message, want) {
		t.Errorf("the message doesn't explain the inheritance (%q): %+v", want, fs)
	}
}

func TestNginxMainAndUpstreamRules(t *testing.T) {
	c := nginxClean
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "worker_connections too low", config: edit(t, c, "worker_connections 8192;", "worker_connections 1024;"),
			want: []string{"nginx/worker-connections@worker_connections 1024"}},
		{name: "worker_connections unset", config: edit(t, c, "    worker_connections 8192;\n", ""),
			want: []string{"nginx/worker-connections@events"}},
		{name: "worker_processes auto counts the CPUs", config: edit(t, c, "worker_processes 2;", "worker_processes auto;", "worker_connections 8192;", "worker_connections 4000;"),
			opt: optWith(func(o *Options) { o.CPUs = 4 }), absent: []string{"nginx/worker-connections"}},
		{name: "no worker_rlimit_nofile", config: edit(t, c, "worker_rlimit_nofile 16384;\n", ""),
			want: []string{"nginx/rlimit-nofile@worker_processes"}},
		{name: "worker_rlimit_nofile below worker_connections", config: edit(t, c, "worker_rlimit_nofile 16384;", "worker_rlimit_nofile 1024;"),
			want: []string{"nginx/rlimit-nofile@worker_rlimit_nofile 1024"}},
		{name: "worker_rlimit_nofile above the hard limit", config: edit(t, c, "worker_rlimit_nofile 16384;", "worker_rlimit_nofile 65536;"),
			want: []string{"nginx/rlimit-nofile@worker_rlimit_nofile 65536"}},
		{name: "no worker_shutdown_timeout", config: edit(t, c, "worker_shutdown_timeout 30m;\n", ""),
			want: []string{"nginx/shutdown-timeout@worker_processes"}},
		{name: "no stub_status", config: edit(t, c, "            stub_status;\n", ""),
			want: []string{"nginx/stub-status@worker_processes"}},
		{name: "stub_status not needed in a fragment", config: "server {\n    listen 80;\n    location /ws/ {\n        proxy_pass http://app;\n    }\n}\n",
			absent: []string{"nginx/stub-status"}},
		{name: "ip_hash", config: edit(t, c, "least_conn;", "ip_hash;"),
			want: []string{"nginx/ip-hash@ip_hash"}},
		{name: "round-robin", config: edit(t, edit(t, c, "        least_conn;\n", ""), "        keepalive 8;", "        server 10.0.0.2:8080 max_fails=3 fail_timeout=10s;\n        keepalive 8;"),
			want: []string{"nginx/balance@upstream app"}},
		// One server (HAProxy behind a front layer) leaves nothing to balance.
		{name: "one server, round-robin", config: edit(t, c, "        least_conn;\n", ""), absent: []string{"nginx/balance"}},
		{name: "hash without consistent", config: edit(t, c, "least_conn;", "hash $remote_addr;"),
			want: []string{"nginx/balance@hash $remote_addr"}},
		{name: "least_conn without zone", config: edit(t, c, "        zone app 64k;\n", ""),
			want: []string{"nginx/least-conn-zone@least_conn"}},
		{name: "no max_fails", config: edit(t, c, " max_fails=3 fail_timeout=10s;", ";"),
			want: []string{"nginx/max-fails@server 10.0.0.1"}},
		{name: "max_fails=0", config: edit(t, c, "max_fails=3", "max_fails=0"),
			want: []string{"nginx/max-fails@server 10.0.0.1"}},
		{name: "backup with hash", config: edit(t, c, "least_conn;", "hash $remote_addr consistent;", "fail_timeout=10s;", "fail_timeout=10s;\n        server 10.0.0.2:8080 backup;"),
			want: []string{"nginx/backup-hash@server 10.0.0.2"}},
		{name: "keepalive before the method", config: edit(t, c, "        least_conn;\n", "        keepalive 4;\n        least_conn;\n"),
			want: []string{"nginx/keepalive-order@keepalive 4"}},
	})
}

func TestNginxWebSocketLocations(t *testing.T) {
	fragment := `upstream api { server 10.0.0.9:80; }
server {
    listen 80;
    location /api/ {
        proxy_pass http://api;
    }
}
`
	routed := `map $http_upgrade $route {
    "~*^websocket$" sockets;
    default web;
}
upstream sockets { ip_hash; server 10.0.0.1:80 max_fails=3; }
upstream web { ip_hash; server 10.0.0.2:80 max_fails=3; }
server {
    listen 80;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_buffering off;
    location / { proxy_pass http://web; }
    location /live { proxy_pass http://$route; }
}
`
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "a conf.d fragment skips the main context", config: fragment,
			want:   []string{"nginx/http-version@location /api/", "nginx/upgrade-header@location /api/"},
			absent: []string{"nginx/worker-connections", "nginx/shutdown-timeout", "nginx/rlimit-nofile"}},
		{name: "other locations are plain HTTP when one is a WebSocket location", config: edit(t, fragment,
			"    location /api/ {", "    location /socket.io/ {\n        proxy_pass http://api;\n        proxy_http_version 1.1;\n    }\n    location /api/ {"),
			want: []string{"nginx/upgrade-header@location /socket.io/"}, absent: []string{"nginx/http-version"}},
		{name: "a server-level snippet", config: "location /ws { proxy_pass http://127.0.0.1:9000; }\n",
			want: []string{"nginx/http-version@location /ws"}},
		{name: "a map on $http_upgrade picks the WebSocket upstream", config: routed,
			want: []string{"nginx/ip-hash@upstream sockets"}},
	})
	fs, err := Lint("routed.conf", []byte(routed), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Rule == "nginx/ip-hash" && f.Line != 5 {
			t.Errorf("upstream web is plain HTTP (the map's default), yet: %+v", f)
		}
	}
}

func TestNginxSyntax(t *testing.T) {
	config := `# comment; with { braces }
http {
    log_format main '$remote_addr "$request" \'quoted\'' ;
    map $http_upgrade $u { default ""; }
    server {
        location ~ ^/(ws|socket)/${dummy}$ {
            content_by_lua_block {
                local s = "}"  -- a brace in a string
                if x then ngx.say("{") end
            }
            proxy_pass http://127.0.0.1:1;
            proxy_set_header Upgrade
                $http_upgrade;
        }
    }
}
`
	cfg, err := parseNginx("n.conf", []byte(config), nil)
	if err != nil {
		t.Fatal(err)
	}
	http := cfg.root[0]
	if http.name != "http" || http.at.line != 2 {
		t.Fatalf("root[0] = %s at %d, want http at 2", http.name, http.at.line)
	}
	if got := http.block[0].args; len(got) != 2 || got[1] != `$remote_addr "$request" 'quoted'` {
		t.Errorf("log_format args = %q", got)
	}
	loc := http.block[2].block[0]
	if loc.at.line != 6 || loc.args[1] != "^/(ws|socket)/${dummy}$" {
		t.Errorf("location = %q at %d", loc.args, loc.at.line)
	}
	if hdr := loc.block[2]; hdr.name != "proxy_set_header" || hdr.at.line != 12 {
		t.Errorf("a directive over two lines is at its first: %s at %d, want proxy_set_header at 12", hdr.name, hdr.at.line)
	}
}

func TestNginxParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"unexpected brace", "http {\n}\n}\n", `lint: parse n.conf:3: unexpected "}"`},
		{"missing semicolon", "events {\n    worker_connections 10\n}\n", `lint: parse n.conf:3: unexpected "}"`},
		{"unclosed block", "http {\n    server {\n", `lint: parse n.conf:3: unexpected end of file, expecting "}"`},
		{"unterminated quote", "http {\n    default_type \"text;\n}\n", "lint: parse n.conf:4: unexpected end of file in a quoted string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lint("n.conf", []byte(tc.config), Options{Target: TargetNginx})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// TestNginxPitfallsFromTheField covers what hand-written configs from public
// articles got wrong and lint once missed.
func TestNginxPitfallsFromTheField(t *testing.T) {
	c := nginxClean
	spare := edit(t, c, "    upstream app", "    upstream spare {\n        ip_hash;\n        server 10.0.0.9:80 max_fails=3;\n    }\n\n    upstream app")
	runRuleCases(t, TargetNginx, []ruleCase{
		{name: "a trailing slash redirects /ws", config: edit(t, c, "location /ws {", "location /ws/ {"),
			want: []string{"nginx/location-slash@location /ws/"}},
		{name: "an exact location takes the bare path", config: edit(t, c, "location /ws {", "location = /ws { return 404; }\n        location /ws/ {"),
			absent: []string{"nginx/location-slash"}},
		{name: "^~ prefix redirects too", config: edit(t, c, "location /ws {", "location ^~ /ws/ {"),
			want: []string{"nginx/location-slash@location ^~ /ws/"}},
		{name: "keepalive with '' close", config: edit(t, c, `default "";`, "'' close;"),
			want: []string{"nginx/keepalive-close@'' close"}},
		{name: `keepalive with '' ""`, config: edit(t, c, `default "";`, `'' "";`),
			absent: []string{"nginx/keepalive-close"}},
		{name: "'' close to an upstream without keepalive", config: edit(t, c, `default "";`, "'' close;", "        keepalive 8;\n", ""),
			absent: []string{"nginx/keepalive-close"}},
		{name: "an unused ip_hash upstream is linted and named", config: spare,
			want: []string{"nginx/unused-upstream@upstream spare", "nginx/ip-hash@ip_hash"}},
		{name: "an upstream reached through a variable is not unused", config: edit(t, spare, "http://app", "http://$backend"),
			absent: []string{"nginx/unused-upstream"}},
	})
}
