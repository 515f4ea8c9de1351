package lint

// HAProxy is parsed by this small line tokenizer rather than client-native's
// config-parser (github.com/haproxytech/client-native/v5/config-parser): that
// parser stores typed values per section and attribute for editing, keeps no
// line numbers and loses the order of lines and sections, which the linter
// needs for exact file:line findings and for sequential "defaults"
// inheritance. HAProxy's format is line-oriented (a section keyword opens a
// section; every other line is a keyword and its words), so words, quotes,
// escapes and comments are all there is to read. Conditional blocks (.if,
// .else, .endif) and diagnostics (.diag, .notice, ...) are skipped: the lines
// of every branch are linted.

import (
	"fmt"
	"slices"
	"strings"
)

// haproxySections are the keywords that open a section.
var haproxySections = []string{
	"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
	"userlist", "mailers", "program", "http-errors", "ring", "cache",
	"log-forward", "fcgi-app", "dynamic-update", "crt-store", "traces",
}

// hConfig is a parsed HAProxy config: its sections in file order.
type hConfig struct {
	file     string
	sections []*hSection
}

// hSection is one section: its keyword, name, lines, and for proxies the
// defaults section it takes its initial settings from.
type hSection struct {
	kind     string // "global", "defaults", "frontend", "backend", "listen", ...
	name     string
	line     int
	lines    []hLine
	defaults *hSection // nil when no defaults section precedes it
}

// hLine is one directive: its line number and its words, keyword first.
type hLine struct {
	line int
	args []string
}

// isProxy reports whether s carries traffic (frontend, backend or listen).
func (s *hSection) isProxy() bool {
	return s.kind == "frontend" || s.kind == "backend" || s.kind == "listen"
}

// hasFrontend reports whether s accepts clients (frontend or listen).
func (s *hSection) hasFrontend() bool { return s.kind == "frontend" || s.kind == "listen" }

// hasBackend reports whether s sends to servers (backend or listen).
func (s *hSection) hasBackend() bool { return s.kind == "backend" || s.kind == "listen" }

// label names the section in messages: `backend "ws"`.
func (s *hSection) label() string {
	if s.name == "" {
		return s.kind + " section"
	}
	return fmt.Sprintf("%s %q", s.kind, s.name)
}

// own returns the last line of s itself starting with the words key.
func (s *hSection) own(key ...string) (hLine, bool) {
	for i := len(s.lines) - 1; i >= 0; i-- {
		if hasWords(s.lines[i].args, key) {
			return s.lines[i], true
		}
	}
	return hLine{}, false
}

// all returns every line of s itself starting with the words key.
func (s *hSection) all(key ...string) []hLine {
	var ls []hLine
	for _, l := range s.lines {
		if hasWords(l.args, key) {
			ls = append(ls, l)
		}
	}
	return ls
}

// lookup returns the line in effect for key: the last one in s, else in its
// defaults chain. A "no option x" met first means the option is off.
func (s *hSection) lookup(key ...string) (hLine, *hSection, bool) {
	for sec := s; sec != nil; sec = sec.defaults {
		for i := len(sec.lines) - 1; i >= 0; i-- {
			args := sec.lines[i].args
			if hasWords(args, key) {
				return sec.lines[i], sec, true
			}
			if args[0] == "no" && hasWords(args[1:], key) {
				return hLine{}, nil, false
			}
		}
	}
	return hLine{}, nil, false
}

// hasWords reports whether args starts with the words key.
func hasWords(args, key []string) bool {
	return len(args) >= len(key) && slices.Equal(args[:len(key)], key)
}

// parseHAProxy parses data as an HAProxy config named name.
func parseHAProxy(name string, data []byte) (*hConfig, error) {
	cfg := &hConfig{file: name}
	var cur *hSection
	var last *hSection // the last defaults section
	named := map[string]*hSection{}
	for i, text := range strings.Split(string(data), "\n") {
		n := i + 1
		args, err := splitHAProxyLine(text)
		if err != nil {
			return nil, fmt.Errorf("lint: parse %s:%d: %w", name, n, err)
		}
		if len(args) == 0 || strings.HasPrefix(args[0], ".") {
			continue
		}
		if !slices.Contains(haproxySections, args[0]) {
			if cur == nil {
				return nil, fmt.Errorf("lint: parse %s:%d: %q is outside any section", name, n, args[0])
			}
			cur.lines = append(cur.lines, hLine{line: n, args: args})
			continue
		}
		cur = &hSection{kind: args[0], line: n}
		cfg.sections = append(cfg.sections, cur)
		rest := args[1:]
		if len(rest) > 0 && rest[0] != "from" {
			cur.name, rest = rest[0], rest[1:]
		}
		if cur.kind != "defaults" && !cur.isProxy() {
			continue
		}
		if cur.kind != "defaults" {
			cur.defaults = last // a defaults section starts afresh unless it says from
		}
		if len(rest) == 2 && rest[0] == "from" {
			d, ok := named[rest[1]]
			if !ok {
				return nil, fmt.Errorf("lint: parse %s:%d: %s: defaults section %q not found", name, n, cur.label(), rest[1])
			}
			cur.defaults = d
		} else if len(rest) > 0 {
			return nil, fmt.Errorf("lint: parse %s:%d: %s: unexpected %q", name, n, cur.label(), strings.Join(rest, " "))
		}
		if cur.kind == "defaults" {
			if cur.name != "" {
				named[cur.name] = cur
			}
			last = cur
		}
	}
	if len(cfg.sections) == 0 {
		return nil, fmt.Errorf("lint: parse %s: no HAProxy section (global, defaults, frontend, backend, listen)", name)
	}
	return cfg, nil
}

// splitHAProxyLine splits one line into words the way HAProxy does: blanks
// separate words, "#" starts a comment, double and single quotes group,
// backslash escapes the next character. Environment variables stay as written.
func splitHAProxyLine(line string) ([]string, error) {
	var args []string
	var w strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t' || c == '\r'):
			if inWord {
				args = append(args, w.String())
				w.Reset()
				inWord = false
			}
			continue
		case quote == 0 && c == '#':
			i = len(line)
			continue
		case c == '\\' && quote != '\'' && i+1 < len(line):
			i++
			switch e := line[i]; e {
			case 'r':
				w.WriteByte('\r')
			case 'n':
				w.WriteByte('\n')
			case 't':
				w.WriteByte('\t')
			default:
				w.WriteByte(e)
			}
		case (c == '"' || c == '\'') && (quote == 0 || quote == c):
			if quote == 0 {
				quote = c
			} else {
				quote = 0
			}
		default:
			w.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched quote %c", quote)
	}
	if inWord {
		args = append(args, w.String())
	}
	return args, nil
}
