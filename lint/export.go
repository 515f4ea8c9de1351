package lint

// The parsed configs, exported for packages that map them onto something
// else (wsctl import): the same parse the rules read, so a line number an
// importer reports is the one lint reports.

import (
	"fmt"
	"time"

	"github.com/wsctl/wsctl/internal/inputfile"
)

// Directive is one directive of a parsed config: where it is written, its
// keyword and its words. HAProxy directives are the lines of a section
// (Name is the first word); nginx block directives hold their Block.
type Directive struct {
	File    string
	Line    int
	Name    string
	Args    []string
	IsBlock bool
	Block   []Directive
}

// Words returns the keyword and its arguments, as written.
func (d Directive) Words() []string { return append([]string{d.Name}, d.Args...) }

// HAProxyConfig is a parsed HAProxy config: its sections in file order.
type HAProxyConfig struct {
	File     string
	Sections []*HAProxySection
}

// HAProxySection is one section of an HAProxy config.
type HAProxySection struct {
	Kind  string // "global", "defaults", "frontend", "backend", "listen", ...
	Name  string
	Line  int
	Lines []Directive
	// Defaults is the defaults section the proxy takes its settings from
	// (nil: none precedes it).
	Defaults *HAProxySection
	file     string
	h        *hSection
}

// Lookup returns the directive in effect for the words key: the last one in
// s, else in its defaults chain; false when absent or turned off by "no".
func (s *HAProxySection) Lookup(key ...string) (Directive, bool) {
	l, _, ok := s.h.lookup(key...)
	if !ok {
		return Directive{}, false
	}
	return hDirective(s.file, l), true
}

// Mode is the effective proxy mode ("http" or "tcp", HAProxy's default).
func (s *HAProxySection) Mode() string { return s.h.mode() }

func hDirective(file string, l hLine) Directive {
	return Directive{File: file, Line: l.line, Name: l.args[0], Args: l.args[1:]}
}

// ParseHAProxy parses data as an HAProxy config named name.
func ParseHAProxy(name string, data []byte) (*HAProxyConfig, error) {
	cfg, err := parseHAProxy(name, data)
	if err != nil {
		return nil, err
	}
	out := &HAProxyConfig{File: name}
	bySection := map[*hSection]*HAProxySection{}
	for _, s := range cfg.sections {
		e := &HAProxySection{Kind: s.kind, Name: s.name, Line: s.line, file: name, h: s, Defaults: bySection[s.defaults]}
		for _, l := range s.lines {
			e.Lines = append(e.Lines, hDirective(name, l))
		}
		bySection[s] = e
		out.Sections = append(out.Sections, e)
	}
	return out, nil
}

// NginxConfig is a parsed nginx config with its includes spliced in, each
// directive keeping the file and line it was read from.
type NginxConfig struct {
	File string
	Root []Directive
	// Missing are the include directives that matched no file.
	Missing []Directive
}

// ParseNginxFile reads and parses the nginx config at path, following its
// includes relative to its directory as LintFile does.
func ParseNginxFile(path string) (*NginxConfig, error) {
	data, err := inputfile.Read(path, inputfile.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	return nginxConfig(path, data, osFS{})
}

// ParseNginx parses data as an nginx config named name, without following
// includes.
func ParseNginx(name string, data []byte) (*NginxConfig, error) {
	return nginxConfig(name, data, nil)
}

func nginxConfig(name string, data []byte, fsys includeFS) (*NginxConfig, error) {
	cfg, err := parseNginx(name, data, fsys)
	if err != nil {
		return nil, err
	}
	out := &NginxConfig{File: name, Root: nDirectives(cfg.root)}
	for _, m := range cfg.missing {
		out.Missing = append(out.Missing, Directive{File: m.at.file, Line: m.at.line, Name: "include", Args: []string{m.pattern}})
	}
	return out, nil
}

func nDirectives(ds []*nDirective) []Directive {
	var out []Directive
	for _, d := range ds {
		out = append(out, Directive{File: d.at.file, Line: d.at.line, Name: d.name, Args: d.args, IsBlock: d.isBlock, Block: nDirectives(d.block)})
	}
	return out
}

// ParseHAProxyTime reads an HAProxy time ("30s", "1h", "500" for ms).
func ParseHAProxyTime(s string) (time.Duration, error) { return parseHAProxyTime(s) }

// ParseNginxTime reads an nginx time ("60", "1h30m", "500ms").
func ParseNginxTime(s string) (time.Duration, error) { return parseNginxTime(s) }
