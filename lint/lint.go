package lint

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/spec"
)

// Targets a config can be linted as.
const (
	TargetHAProxy = model.TargetHAProxy
	TargetNginx   = model.TargetNginx
)

// Severities of a finding. Only errors fail a lint unless it is strict.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Defaults for what Options leaves zero. DefaultConnections is the spec's
// default: lint assumes the load wsctl sizes a config for when none is given.
const (
	DefaultHeartbeat   = 30 * time.Second
	DefaultConnections = spec.DefaultConnections
)

// ErrUnknownFormat is returned when a file is neither an HAProxy nor an nginx
// config (and no target was given).
var ErrUnknownFormat = errors.New("not an HAProxy or nginx config")

// Finding is one problem found in a config: a stable rule id, its severity,
// where it is, what it does to WebSocket users and how to fix it.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// Options tunes the rules. The zero value means: detect the target, a 30s
// heartbeat, and three assumptions: 5,000 WebSockets, and a proxy host with
// this machine's file-descriptor hard limit and CPU count. A finding that
// rests on an assumption is info and names it, whatever the rule's
// severity: lint in CI runs neither on the proxy's host nor knows its load.
type Options struct {
	// Target is TargetHAProxy, TargetNginx or "" to detect it from the content.
	Target string
	// Heartbeat is the longest silence on a healthy WebSocket (the ping
	// interval of the application): every idle timeout must be above it.
	Heartbeat time.Duration
	// Connections is the number of concurrent WebSockets the proxy must
	// carry; 0 assumes DefaultConnections.
	Connections int
	// FDLimit is the per-process hard limit on open files of the host that
	// runs the proxy; 0 reads RLIMIT_NOFILE of the current process, a fact
	// with Host and an assumption without.
	FDLimit int
	// CPUs is the CPU count of the host that runs the proxy (for nginx
	// "worker_processes auto"); 0 means runtime.NumCPU(), a fact with Host
	// and an assumption without.
	CPUs int
	// Host says this machine is the proxy's host (wsctl check, lint
	// --host): its limits are what the proxy gets.
	Host bool
}

// settings are Options with every zero field filled in, and what each
// assumption says when a finding rests on it ("" when stated).
type settings struct {
	Options
	assumedConnections, assumedFDLimit, assumedCPUs string
}

// resolve fills the zero fields of o and records which were assumed.
func (o Options) resolve() settings {
	s := settings{Options: o}
	if s.Heartbeat == 0 {
		s.Heartbeat = DefaultHeartbeat
	}
	if s.Connections == 0 {
		s.Connections = DefaultConnections
		s.assumedConnections = fmt.Sprintf("%s WebSockets, the default: state the real number with --connections", fmtInt(s.Connections))
	}
	if s.FDLimit == 0 {
		s.FDLimit = hardFDLimit()
		if !s.Host {
			s.assumedFDLimit = fmt.Sprintf("the proxy's host has this machine's hard limit of %s open files: lint on that host with --host, or give --fd-limit", fmtInt(s.FDLimit))
		}
	}
	if s.CPUs == 0 {
		s.CPUs = runtime.NumCPU()
		if !s.Host {
			s.assumedCPUs = fmt.Sprintf("the proxy's host has this machine's %d CPUs: lint on that host with --host, or give --cpus", s.CPUs)
		}
	}
	return s
}

// statedFDLimit is the fd limit when it is a fact (given, or this host with
// Host), else 0: a fix text quotes no limit that was only assumed, since
// this machine's says nothing about the proxy's host.
func (s settings) statedFDLimit() int {
	if s.assumedFDLimit != "" {
		return 0
	}
	return s.FDLimit
}

// Validate reports an option no rule can work with.
func (o Options) Validate() error {
	switch o.Target {
	case "", TargetHAProxy, TargetNginx:
	default:
		return fmt.Errorf("lint: target %q: want %s or %s", o.Target, TargetHAProxy, TargetNginx)
	}
	if o.Heartbeat < 0 {
		return fmt.Errorf("lint: heartbeat %v: must be positive", o.Heartbeat)
	}
	if o.Connections < 0 {
		return fmt.Errorf("lint: connections %d: must be positive", o.Connections)
	}
	if o.FDLimit < 0 || o.CPUs < 0 {
		return errors.New("lint: fd limit and cpus must not be negative")
	}
	return nil
}

// hardFDLimit is the hard RLIMIT_NOFILE of this process, or 0 when it is
// unknown or unlimited (then no rule judges against it).
func hardFDLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Max > 1<<30 {
		return 0
	}
	return int(rl.Max)
}

// LintFile reads the config at path and lints it. nginx includes are followed
// relative to the directory of path, as nginx resolves them relative to the
// directory of its main config. An unreadable or unparsable file is an error,
// and so is one that is not a regular file or is over inputfile.MaxConfig
// bytes (each include too); findings never are.
func LintFile(path string, opt Options) ([]Finding, error) {
	data, err := inputfile.Read(path, inputfile.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	return lintData(path, data, opt, osFS{})
}

// Files lints the configs at paths, "-" being stdin (named <stdin>, its
// includes not followed), and, given more than one, the chain between
// them (ChainFiles): `wsctl lint`'s findings, [] when clean.
func Files(paths []string, stdin io.Reader, opt Options) ([]Finding, error) {
	findings := []Finding{}
	for _, p := range paths {
		var fs []Finding
		var err error
		if p == "-" {
			var data []byte
			if data, err = inputfile.ReadFrom("standard input", stdin, inputfile.MaxConfig); err != nil {
				return nil, fmt.Errorf("lint: %w", err)
			}
			fs, err = Lint("<stdin>", data, opt)
		} else {
			fs, err = LintFile(p, opt)
		}
		if err != nil {
			return nil, err
		}
		findings = append(findings, fs...)
	}
	if len(paths) < 2 {
		return findings, nil
	}
	chain, err := ChainFiles(paths, opt)
	if err != nil {
		return nil, err
	}
	return append(findings, chain...), nil
}

// Lint lints the config text data, named name in the findings. It reads no
// file: nginx includes are not followed (their directives are not linted).
func Lint(name string, data []byte, opt Options) ([]Finding, error) {
	return lintData(name, data, opt, nil)
}

// lintData detects the target if needed, parses data and runs the rules.
func lintData(name string, data []byte, opt Options, fsys includeFS) ([]Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	set := opt.resolve()
	target := opt.Target
	if target == "" {
		target = Detect(data)
		if target == "" {
			return nil, fmt.Errorf("lint: %s: %w (%s)", name, ErrUnknownFormat, firstStatement(data))
		}
	}
	var fs []Finding
	switch target {
	case TargetHAProxy:
		cfg, err := parseHAProxy(name, data)
		if err != nil {
			return nil, err
		}
		fs = lintHAProxy(cfg, set)
	case TargetNginx:
		cfg, err := parseNginx(name, data, fsys)
		if err != nil {
			return nil, err
		}
		fs = lintNginx(cfg, set)
	}
	return sortFindings(fs), nil
}

// Fails reports whether findings should fail the lint (exit status 1): any
// error, and with strict any warning too. Info never fails.
func Fails(findings []Finding, strict bool) bool {
	for _, f := range findings {
		if f.Severity == SeverityError || strict && f.Severity == SeverityWarning {
			return true
		}
	}
	return false
}

// sortFindings orders findings by file, line, rule and message and drops
// duplicates (a value inherited by several blocks is reported once, where it
// is written). It never returns nil, so JSON output is [] when clean.
func sortFindings(fs []Finding) []Finding {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	fs = slices.Compact(fs)
	if fs == nil {
		fs = []Finding{}
	}
	return fs
}
