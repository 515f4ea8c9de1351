package lint

import (
	"fmt"
	"slices"
	"strings"
)

// nginxTopLevel are directives that start nginx configs and the fragments
// people include (conf.d files at http level, snippets at server level).
var nginxTopLevel = []string{
	// main
	"user", "worker_processes", "worker_rlimit_nofile", "worker_shutdown_timeout",
	"worker_cpu_affinity", "pid", "error_log", "events", "http", "stream", "mail",
	"include", "load_module", "daemon", "master_process", "env", "pcre_jit",
	"thread_pool", "timer_resolution", "working_directory", "lock_file",
	// http and server fragments
	"upstream", "server", "map", "geo", "split_clients", "log_format", "access_log",
	"location", "listen", "server_name", "proxy_pass", "proxy_set_header",
	"proxy_http_version", "proxy_read_timeout", "proxy_buffering", "keepalive_timeout",
	"sendfile", "limit_req_zone", "limit_conn_zone", "ssl_certificate", "root", "types",
}

// Detect returns the kind of config data holds, from its content:
// TargetHAProxy when its first statement is an HAProxy section keyword
// (global, defaults, frontend, backend, listen, ...) on a line of its own;
// TargetNginx when it parses as nginx syntax (statements ending in ";" or
// blocks in braces) and some top-level directive is a known nginx one; ""
// when it is neither. File names are not looked at: haproxy.cfg and
// nginx.conf are conventions, not rules.
func Detect(data []byte) string {
	if line := firstLine(data, "."); line != "" {
		if args, err := splitHAProxyLine(line); err == nil && len(args) > 0 &&
			slices.Contains(haproxySections, args[0]) && !strings.ContainsAny(line, ";{") {
			return TargetHAProxy
		}
	}
	cfg, err := parseNginx("", data, nil)
	if err == nil && slices.ContainsFunc(cfg.root, func(d *nDirective) bool { return slices.Contains(nginxTopLevel, d.name) }) {
		return TargetNginx
	}
	return ""
}

// firstLine returns the first line with something besides blanks and a
// comment, trimmed, skipping lines that start with skip (HAProxy's .if).
func firstLine(data []byte, skip string) string {
	for line := range strings.SplitSeq(string(data), "\n") {
		s := strings.TrimSpace(line)
		if s != "" && !strings.HasPrefix(s, "#") && (skip == "" || !strings.HasPrefix(s, skip)) {
			return s
		}
	}
	return ""
}

// firstStatement describes the start of data for an error message.
func firstStatement(data []byte) string {
	line := firstLine(data, "")
	if line == "" {
		return "it is empty"
	}
	if len(line) > 40 {
		line = line[:40] + "..."
	}
	return fmt.Sprintf("it starts with %q", line)
}
