package render

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/model"
)

// ErrMismatch is wrapped when a rendered config, parsed back, does not hold
// exactly the model's frontends, backends and servers.
var ErrMismatch = errors.New("the rendered config does not match the model")

// Verify parses text, rendered from m, back and checks that it holds
// exactly m's frontends (the stats one included), backends and servers, with the servers' addresses
// as the model has them, and nothing of that kind besides. It is defence in
// depth behind the validation of every value that reaches a template: if a
// value ever smuggled a line or a block into the config, the outline no
// longer matches and nothing is written.
func Verify(m *model.Model, text []byte) error {
	var err error
	switch m.Target {
	case model.TargetHAProxy:
		err = verifyHAProxy(m, text)
	case model.TargetNginx:
		err = verifyNginx(m, text)
	default:
		err = fmt.Errorf("unknown target %q", m.Target)
	}
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

func verifyHAProxy(m *model.Model, text []byte) error {
	o, err := lint.OutlineHAProxy("rendered config", text)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	frontends := map[string][]string{} // name → binds
	for _, f := range m.Frontends {
		frontends[f.Name] = f.Addrs()
	}
	userlist := ""
	if m.Stats != nil {
		frontends[m.Stats.Name] = []string{m.Stats.Bind}
		userlist = m.Stats.Userlist
	}
	backends := map[string]model.Backend{}
	for _, b := range m.Backends {
		backends[b.Name] = b
	}
	seen := map[string]bool{}
	for _, sec := range o.Sections {
		key := sec.Kind + " " + sec.Name
		if seen[key] && sec.Kind != "defaults" {
			return mismatch(sec.Line, "%s %q appears twice", sec.Kind, sec.Name)
		}
		seen[key] = true
		switch sec.Kind {
		case "frontend":
			binds, ok := frontends[sec.Name]
			if !ok {
				return mismatch(sec.Line, "frontend %q is not in the spec", sec.Name)
			}
			if !slices.Equal(sec.Listen, binds) || len(sec.Servers) > 0 {
				return mismatch(sec.Line, "frontend %q binds %v, want %v", sec.Name, sec.Listen, binds)
			}
		case "backend":
			b, ok := backends[sec.Name]
			if !ok {
				return mismatch(sec.Line, "backend %q is not in the spec", sec.Name)
			}
			want := make([]lint.OutlineServer, len(b.Servers))
			for i, s := range b.Servers {
				want[i] = lint.OutlineServer{Name: s.Name, Addr: s.Addr()}
			}
			if err := sameServers(sec, want); err != nil {
				return err
			}
		case "global", "defaults", "userlist":
			if sec.Kind == "userlist" && (userlist == "" || sec.Name != userlist) {
				return mismatch(sec.Line, "unexpected userlist section %q", sec.Name)
			}
			if len(sec.Servers) > 0 || len(sec.Listen) > 0 {
				return mismatch(sec.Line, "%s section holds a server or bind line", sec.Kind)
			}
		default:
			// listen proxies, peers, resolvers, programs…: never rendered
			// by wsctl, and a way to open ports or run commands.
			return mismatch(sec.Line, "unexpected %s section %q", sec.Kind, sec.Name)
		}
	}
	if !seen["global "] {
		return mismatch(0, "no global section")
	}
	for name := range frontends {
		if !seen["frontend "+name] {
			return mismatch(0, "frontend %q is missing", name)
		}
	}
	if userlist != "" && !seen["userlist "+userlist] {
		return mismatch(0, "userlist %q is missing", userlist)
	}
	for _, b := range m.Backends {
		if !seen["backend "+b.Name] {
			return mismatch(0, "backend %q is missing", b.Name)
		}
	}
	return nil
}

// nginxPlaceholder is the server line the nginx template writes in an
// upstream without any enabled server (nginx refuses an empty one).
const nginxPlaceholder = "127.0.0.1:1"

func verifyNginx(m *model.Model, text []byte) error {
	o, err := lint.OutlineNginx("rendered config", text)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	backends := map[string]model.Backend{}
	for _, b := range m.Backends {
		backends[b.Name] = b
	}
	var binds []string
	for _, f := range m.Frontends {
		binds = append(binds, f.Addrs()...)
	}
	if m.Stats != nil {
		binds = append(binds, m.Stats.Bind) // its own server block
	}
	var listens []string
	seen := map[string]bool{}
	for _, sec := range o.Sections {
		switch {
		case sec.Kind == "events" || sec.Kind == "http":
			if seen[sec.Kind] {
				return mismatch(sec.Line, "a second %s block", sec.Kind)
			}
			seen[sec.Kind] = true
		case sec.Kind == "http/map":
		case sec.Kind == "http/upstream":
			b, ok := backends[sec.Name]
			if !ok || seen["upstream "+sec.Name] {
				return mismatch(sec.Line, "upstream %q is not in the spec, or appears twice", sec.Name)
			}
			seen["upstream "+sec.Name] = true
			var want []lint.OutlineServer
			for _, s := range b.Servers {
				if !s.Disabled {
					want = append(want, lint.OutlineServer{Addr: s.Addr()})
				}
			}
			if b.NoneEnabled {
				want = append(want, lint.OutlineServer{Addr: nginxPlaceholder})
			}
			if err := sameServers(sec, want); err != nil {
				return err
			}
		case sec.Kind == "http/server":
			if len(sec.Listen) == 0 || len(sec.Servers) > 0 {
				return mismatch(sec.Line, "server block listens on %v, want its listen lines", sec.Listen)
			}
			listens = append(listens, sec.Listen...)
		default:
			return mismatch(sec.Line, "unexpected %s block", strings.ReplaceAll(sec.Kind, "/", " "))
		}
		if sec.Kind != "http/upstream" && sec.Kind != "http/server" && len(sec.Servers)+len(sec.Listen) > 0 {
			return mismatch(sec.Line, "%s block holds a server or listen line", sec.Kind)
		}
	}
	if !seen["http"] {
		return mismatch(0, "no http block")
	}
	for _, b := range m.Backends {
		if !seen["upstream "+b.Name] {
			return mismatch(0, "upstream %q is missing", b.Name)
		}
	}
	slices.Sort(listens)
	slices.Sort(binds)
	if !slices.Equal(listens, binds) {
		return mismatch(0, "server blocks listen on %v, want %v", listens, binds)
	}
	return nil
}

// sameServers checks that sec's server lines are exactly want, in any order.
func sameServers(sec lint.OutlineSection, want []lint.OutlineServer) error {
	got := map[lint.OutlineServer]int{}
	for _, s := range sec.Servers {
		got[lint.OutlineServer{Name: s.Name, Addr: s.Addr}]++
	}
	for _, w := range want {
		if got[w] == 0 {
			return mismatch(sec.Line, "%s %q lacks server %s %s", sec.Kind, sec.Name, w.Name, w.Addr)
		}
		got[w]--
	}
	for _, s := range sec.Servers {
		k := lint.OutlineServer{Name: s.Name, Addr: s.Addr}
		if got[k] > 0 {
			return mismatch(s.Line, "%s %q has an unexpected server line %s %s", sec.Kind, sec.Name, s.Name, s.Addr)
		}
	}
	return nil
}

func mismatch(line int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return fmt.Errorf("%w: %s; nothing written", ErrMismatch, msg)
}
