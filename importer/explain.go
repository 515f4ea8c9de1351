package importer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/render"
)

// Addition is a directive wsctl's rendering of the imported spec holds
// that the original config did not.
type Addition struct {
	// Directive is the rendered line, as written.
	Directive string `json:"directive"`
	// Why says what it does for WebSockets ("" for plumbing wsctl needs).
	Why string `json:"why"`
}

// whyAdded says what rendered directives do for WebSockets, by the key
// Explain compares on.
var whyAdded = map[string]string{
	"hard-stop-after":             "old workers keep their WebSockets after a reload; this bounds how long, so reloads do not pile up processes",
	"master-worker":               "reloads start a new worker beside the old one, and wsctl reloads through the master CLI",
	"server-state-file":           "DRAIN/MAINT, weights and addresses set at runtime survive a reload",
	"load-server-state-from-file": "reads the state file at start, so a reload does not send drained servers traffic again",
	"option redispatch":           "a client whose sticky server is down or in maintenance goes to another one instead of failing",
	"timeout tunnel":              "the idle timeout of an upgraded WebSocket, kept above the heartbeat",
	"timeout client-fin":          "bounds half-closed client connections, which otherwise live as long as the tunnel",
	"timeout server-fin":          "bounds half-closed server connections, which otherwise live as long as the tunnel",
	"timeout http-request":        "bounds how long a client may take to send the upgrade request",
	"timeout queue":               "bounds how long a WebSocket waits for a server slot before 503",
	"stats socket":                "the admin socket wsctl drains, readies and fills slots through",
	"option httpchk":              "active health checks: a failing server stops getting new WebSockets",
	"http-check send":             "the health check request, HTTP/1.1 with a Host header",
	"http-check expect":           "what a healthy server answers",
	"default-server":              "check timing, slowstart and maxconn for every server, and a weight runtime changes can lower and raise",
	"cookie":                      "sticky sessions: a reconnecting client goes back to its server",
	"maxconn":                     "sized from connections, so the proxy accepts the planned WebSockets",
	"worker_shutdown_timeout":     "old workers keep their WebSockets after a reload; this bounds how long",
	"worker_rlimit_nofile":        "every proxied WebSocket holds two descriptors; the limit is sized for them",
	"map":                         "forwards only Upgrade: websocket (never h2c or other tokens)",
	"proxy_http_version":          "without HTTP/1.1 upstream nginx ignores the upgrade",
	"proxy_read_timeout":          "the idle timeout of an upgraded WebSocket, kept above the heartbeat",
	"proxy_send_timeout":          "the idle timeout of an upgraded WebSocket towards the server",
	"proxy_set_header":            "every proxy header at one level: nginx drops inherited ones as soon as a level sets its own",
	"keepalive":                   "upstream keep-alive for plain requests",
	"proxy_buffering":             "frames and long-polling fallbacks flow at once",
	"http-request set-header":     "X-Forwarded-Proto tells the application whether the client used TLS",
	"option forwardfor":           "X-Forwarded-For carries the client address to the application",
}

// Explain renders the imported spec for its target and returns what the
// rendering holds that the original did not, each once, in rendering order.
func Explain(r *Result) ([]Addition, error) {
	res, err := render.Config(r.Spec, r.Target, static.Snapshot(r.Spec), "")
	if err != nil {
		return nil, fmt.Errorf("import: explain: %w", err)
	}
	var rendered []lint.Directive
	if r.Target == lint.TargetHAProxy {
		cfg, err := lint.ParseHAProxy("rendered", res.Config)
		if err != nil {
			return nil, fmt.Errorf("import: explain: %w", err)
		}
		for _, s := range cfg.Sections {
			rendered = append(rendered, s.Lines...)
		}
	} else {
		cfg, err := lint.ParseNginx("rendered", res.Config)
		if err != nil {
			return nil, fmt.Errorf("import: explain: %w", err)
		}
		rendered = flatten(cfg.Root)
	}
	seen := map[string]bool{}
	var out []Addition
	for _, d := range rendered {
		key := hKey(d.Words())
		if r.Target == lint.TargetNginx {
			key = d.Name
		}
		if r.keys[key] || seen[key] || d.Name == "server" || d.Name == "listen" || d.Name == "location" {
			continue
		}
		seen[key] = true
		why := whyAdded[key]
		if why == "" {
			why = whyAdded[hKey(d.Words()[:min(2, len(d.Words()))])]
		}
		out = append(out, Addition{Directive: directiveText(d), Why: why})
	}
	slices.SortStableFunc(out, func(a, b Addition) int {
		return strings.Compare(boolKey(a.Why == ""), boolKey(b.Why == ""))
	})
	return out, nil
}

// boolKey sorts the explained additions before the plumbing.
func boolKey(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func flatten(ds []lint.Directive) []lint.Directive {
	var out []lint.Directive
	for _, d := range ds {
		out = append(out, d)
		if d.Name != "map" { // its entries are the map's
			out = append(out, flatten(d.Block)...)
		}
	}
	return out
}
