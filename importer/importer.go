// Package importer maps a hand-written HAProxy or nginx config, as lint
// parses it, onto a wsctl spec: listeners, routes, backends, servers,
// stickiness, health checks and timeouts. Every directive it does not carry
// over, and every one it changes on the way, becomes a Note with the file
// and line it was read from, so nothing is dropped silently.
package importer

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
)

// Note is one directive of the original that the spec does not carry as
// written: dropped, or changed on the way.
type Note struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Directive string `json:"directive"`
	Why       string `json:"why"`
	// Important marks what changes where WebSockets go or how long they
	// live: a route, a backend or server, balancing or stickiness, the
	// tunnel timeout, TLS on a listener, health checks.
	Important bool `json:"important"`
}

// String is "FILE:LINE: directive: why".
func (n Note) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", n.File, n.Line, n.Directive, n.Why)
}

// Result is an imported config.
type Result struct {
	// Target is the dialect the original was read as.
	Target string
	// YAML is the spec, as it would be written to wsctl.yaml.
	YAML []byte
	// Spec is YAML loaded back with spec.Parse: defaulted and valid.
	Spec *spec.Spec
	// Notes are sorted by file and line.
	Notes []Note
	// keys are the directives the original holds, for Explain.
	keys map[string]bool
}

// Important reports whether a note marks something important as not
// carried or changed.
func (r *Result) Important() bool {
	return slices.ContainsFunc(r.Notes, func(n Note) bool { return n.Important })
}

// ErrNoSpec is returned when the config holds too little for a valid spec
// (no listener or no backend, as in a fragment).
var ErrNoSpec = errors.New("no valid spec")

// File imports the config at path as target ("": detected from the
// content), following nginx includes relative to its directory.
func File(path, target string) (*Result, error) {
	data, err := inputfile.Read(path, inputfile.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return importData(path, data, target, true)
}

// Data imports config text named name; nginx includes are not followed.
func Data(name string, data []byte, target string) (*Result, error) {
	return importData(name, data, target, false)
}

func importData(name string, data []byte, target string, includes bool) (*Result, error) {
	if target == "" {
		target = lint.Detect(data)
	}
	var b *builder
	switch target {
	case lint.TargetHAProxy:
		cfg, err := lint.ParseHAProxy(name, data)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		b = importHAProxy(cfg)
	case lint.TargetNginx:
		parse := lint.ParseNginxFile
		if !includes {
			parse = func(string) (*lint.NginxConfig, error) { return lint.ParseNginx(name, data) }
		}
		cfg, err := parse(name)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		b = importNginx(cfg)
	case "":
		return nil, fmt.Errorf("import: %s: %w", name, lint.ErrUnknownFormat)
	default:
		return nil, fmt.Errorf("import: target %q: want %s or %s", target, lint.TargetHAProxy, lint.TargetNginx)
	}
	b.s.Proxy = target
	text, err := marshal(&b.s)
	if err != nil {
		return nil, err
	}
	loaded, err := spec.Parse("imported spec", text, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("import: %s: %w: %w", name, ErrNoSpec, err)
	}
	slices.SortStableFunc(b.notes, func(a, c Note) int {
		return cmp.Or(cmp.Compare(a.File, c.File), cmp.Compare(a.Line, c.Line))
	})
	return &Result{Target: target, YAML: text, Spec: loaded, Notes: b.notes, keys: b.keys}, nil
}

// builder collects the spec, the notes and which directives were seen and
// dealt with, whichever the dialect.
type builder struct {
	s     spec.Spec
	notes []Note
	done  map[pos]bool
	keys  map[string]bool
	bound map[string]bool // listener addresses taken
}

type pos struct {
	file string
	line int
}

func newBuilder() *builder {
	return &builder{done: map[pos]bool{}, keys: map[string]bool{}, bound: map[string]bool{}}
}

// carry marks d as carried over unchanged.
func (b *builder) carry(d lint.Directive) { b.done[pos{d.File, d.Line}] = true }

// note reports d as not carried or changed (once per line).
func (b *builder) note(d lint.Directive, important bool, format string, args ...any) {
	b.done[pos{d.File, d.Line}] = true
	n := Note{File: d.File, Line: d.Line, Directive: directiveText(d), Why: fmt.Sprintf(format, args...), Important: important}
	if !slices.Contains(b.notes, n) { // a defaults line is read by every proxy
		b.notes = append(b.notes, n)
	}
}

// rest notes every directive of ds nothing dealt with, with the reason
// the table gives for its keyword.
func (b *builder) rest(ds []lint.Directive, why func(lint.Directive) (string, bool)) {
	for _, d := range ds {
		if !b.done[pos{d.File, d.Line}] {
			reason, important := why(d)
			b.note(d, important, "%s", reason)
		}
	}
}

// directiveText is the directive as written, shortened for a message.
func directiveText(d lint.Directive) string {
	s := strings.Join(d.Words(), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// setBinds gives l its addresses: bind and tls for one, binds for several.
func setBinds(l *spec.Listener, binds []spec.Bind) {
	if len(binds) == 1 {
		l.Bind, l.TLS = binds[0].Address, binds[0].TLS
		return
	}
	l.Binds = binds
}

// bindOnce reports whether addr is free, noting d when an earlier listener
// took it: the spec binds an address once.
func (b *builder) bindOnce(d lint.Directive, addr string) bool {
	if b.bound[addr] {
		b.note(d, true, "not carried: %s is bound by an earlier listener (the spec binds an address once)", addr)
		return false
	}
	b.bound[addr] = true
	return true
}

// sourceAddr returns the address words hold when they are one unicast IP
// address, what the spec's source_address takes (spec.ParseSourceAddress).
func sourceAddr(words []string) (string, bool) {
	ip, ok := spec.ParseSourceAddress(strings.Join(words, " "))
	if !ok {
		return "", false
	}
	return ip.String(), true
}

// heartbeatFor inverts the spec's default tunnel (three heartbeats): the
// heartbeat whose default tunnel is tunnel, in whole seconds (whole
// milliseconds below 3s). It returns whether rounding changed it.
func heartbeatFor(tunnel time.Duration) (time.Duration, bool) {
	hb := tunnel / 3
	unit := time.Second
	if tunnel < 3*time.Second {
		unit = time.Millisecond
	}
	r := hb.Truncate(unit)
	return max(r, time.Millisecond), r != hb
}

// setTimeouts sets the tunnel and the heartbeat derived from it, noting the
// derivation at d.
func (b *builder) setTunnel(tunnel time.Duration, d lint.Directive) {
	b.s.Timeouts.Tunnel = spec.Duration(tunnel)
	hb, rounded := heartbeatFor(tunnel)
	b.s.Heartbeat = spec.Duration(hb)
	why := fmt.Sprintf("heartbeat: %s derived as a third of the tunnel timeout %s (wsctl's default tunnel is three heartbeats); set the application's real ping interval", model.Duration(hb), model.Duration(tunnel))
	if rounded {
		why += fmt.Sprintf(" (rounded down from %s)", tunnel/3)
	}
	b.notes = append(b.notes, Note{File: d.File, Line: d.Line, Directive: directiveText(d), Why: why})
	b.done[pos{d.File, d.Line}] = true
}

// marshal writes s as YAML, leaving out every zero field (a nil pointer is
// zero; a pointer to zero, such as slowstart: 0s, is written), durations in
// the proxies' units.
func marshal(s *spec.Spec) ([]byte, error) {
	n := yamlNode(reflect.ValueOf(*s))
	out, err := yaml.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("import: write spec: %w", err)
	}
	return out, nil
}

var durationType = reflect.TypeOf(spec.Duration(0))

func yamlNode(v reflect.Value) *yaml.Node {
	if v.Type() == durationType {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: model.Duration(time.Duration(v.Int()))}
	}
	switch v.Kind() {
	case reflect.Pointer:
		return yamlNode(v.Elem())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || key == "" || key == "-" || v.Field(i).IsZero() {
				continue
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, yamlNode(v.Field(i)))
		}
		return m
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			seq.Content = append(seq.Content, yamlNode(v.Index(i)))
		}
		return seq
	default:
		n := &yaml.Node{}
		_ = n.Encode(v.Interface())
		return n
	}
}
