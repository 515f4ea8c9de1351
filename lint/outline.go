package lint

import (
	"strings"
)

// Outline is the skeleton of a config as the proxy reads it: its sections
// (HAProxy) or blocks (nginx) in file order, and the servers each sends to.
// wsctl parses every config it renders back into an Outline and compares it
// with what it meant to render, so text that slipped into the config (a
// value that closed a line or a block) is caught before anything is
// written.
type Outline struct {
	Sections []OutlineSection
}

// OutlineSection is one HAProxy section or nginx block.
type OutlineSection struct {
	// Kind is the HAProxy section keyword ("global", "frontend", …), or the
	// nginx block's path of directive names ("http", "http/upstream",
	// "http/server", "events").
	Kind string
	// Name is the section's name (HAProxy) or the block's arguments joined
	// by spaces (nginx).
	Name string
	Line int
	// Servers are the section's `server` lines (HAProxy backend or listen;
	// nginx upstream).
	Servers []OutlineServer
	// Listen holds the first argument of each `bind` (HAProxy) or `listen`
	// (nginx server block) line.
	Listen []string
}

// OutlineServer is one `server` line.
type OutlineServer struct {
	// Name is the server's name (HAProxy; empty for nginx).
	Name string
	// Addr is the address word as written.
	Addr string
	Line int
}

// OutlineHAProxy parses an HAProxy config into its outline.
func OutlineHAProxy(name string, data []byte) (Outline, error) {
	cfg, err := parseHAProxy(name, data)
	if err != nil {
		return Outline{}, err
	}
	var o Outline
	for _, s := range cfg.sections {
		sec := OutlineSection{Kind: s.kind, Name: s.name, Line: s.line}
		for _, l := range s.lines {
			switch {
			case l.args[0] == "server":
				srv := OutlineServer{Line: l.line}
				if len(l.args) > 1 {
					srv.Name = l.args[1]
				}
				if len(l.args) > 2 {
					srv.Addr = l.args[2]
				}
				sec.Servers = append(sec.Servers, srv)
			case l.args[0] == "bind" && len(l.args) > 1:
				sec.Listen = append(sec.Listen, l.args[1])
			}
		}
		o.Sections = append(o.Sections, sec)
	}
	return o, nil
}

// OutlineNginx parses an nginx config, without following includes, into
// the outline of its top-level blocks and the blocks directly inside them.
func OutlineNginx(name string, data []byte) (Outline, error) {
	cfg, err := parseNginx(name, data, nil)
	if err != nil {
		return Outline{}, err
	}
	var o Outline
	var walk func(ds []*nDirective, parent string, depth int)
	walk = func(ds []*nDirective, parent string, depth int) {
		for _, d := range ds {
			if !d.isBlock {
				continue
			}
			kind := d.name
			if parent != "" {
				kind = parent + "/" + d.name
			}
			sec := OutlineSection{Kind: kind, Name: strings.Join(d.args, " "), Line: d.at.line}
			for _, c := range d.block {
				if c.isBlock || len(c.args) == 0 {
					continue
				}
				switch c.name {
				case "server":
					sec.Servers = append(sec.Servers, OutlineServer{Addr: c.args[0], Line: c.at.line})
				case "listen":
					sec.Listen = append(sec.Listen, c.args[0])
				}
			}
			o.Sections = append(o.Sections, sec)
			if depth == 0 {
				walk(d.block, kind, depth+1)
			}
		}
	}
	walk(cfg.root, "", 0)
	return o, nil
}
