// Command wsload is a WebSocket load generator that counts every dropped
// connection.
//
//	wsload --url URL --conns N --rate R --duration D --interval D [--reconnect] [--cookies] [--timeline FILE] [-o json]
//
// It opens N connections at R per second, holds them for D, sends a message
// every interval on each and matches its echo, then closes everything with
// 1000 and prints what it saw. Exit code 0 when it ran (drops are results),
// 2 on bad flags or when not a single connection could be made. SIGINT ends
// the run early and still reports; a second SIGINT kills it. The keys of
// -o json are documented in package loadgen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wsctl/wsctl/loadgen"
)

const (
	exitOK    = 0
	exitError = 2 // bad flags, or no connection at all
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the next signal kills the process, for a run that hangs
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options is what the flags ask for.
type options struct {
	cfg      loadgen.Config
	output   string // "text" or "json"
	timeline string // CSV path, "" for none
}

// errUsage means the flags were wrong and stderr already says why.
var errUsage = errors.New("usage")

const usageText = `Usage: wsload --url ws://HOST:PORT/PATH [flags]

Opens --conns WebSockets at --rate per second, holds them for --duration,
sends a message every --interval on each and checks its echo, then closes
them with 1000 and reports. Exit code 0 when it ran, 2 on bad flags or when
no connection could be made.

-o json prints one object with the keys: connected, handshake_failed,
first_handshake_error, dropped, drops_by_code (close code or "abrupt" ->
count), reconnects, sent, echoed, lost_echoes, per_server (live connections
per server at the end, from the wsecho greeting), landings (handshakes per
server, reconnects included), echo_p50_ms, echo_p99_ms, duration_ms,
interrupted. --timeline writes t_ms,connects,closes,live per 100ms.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	opts := options{cfg: loadgen.DefaultConfig()}
	cfg := &opts.cfg
	var sourceIPs string
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "", "WebSocket `URL` to dial, ws:// or wss:// (required)")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "number of clients `N`")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "new connections per second `R`; 0 opens them all at once")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the run from its start, ramp-up included")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between echo messages on each connection; 0 sends none")
	fs.DurationVar(&cfg.Grace, "grace", cfg.Grace, "after --duration, wait at most this long for in-flight echoes")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", cfg.HandshakeTimeout, "bound on each dial and handshake")
	fs.BoolVar(&cfg.Reconnect, "reconnect", false, "dial again (backoff 100ms..5s, full jitter) when the peer closes")
	fs.BoolVar(&cfg.Cookies, "cookies", false, "one cookie jar per client, so a reconnect presents its sticky cookie")
	fs.StringVar(&sourceIPs, "source-ips", "", "comma-separated local `IPs` to spread the clients over, e.g. 127.0.0.2,127.0.0.3")
	fs.StringVar(&opts.timeline, "timeline", "", "write a per-100ms CSV timeline to `FILE`")
	fs.StringVar(&opts.output, "o", "text", "output `format`: text or json")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, errUsage // the flag set printed the error and the usage
	}

	problem := ""
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	case cfg.URL == "":
		problem = "--url is required"
	case opts.output != "text" && opts.output != "json":
		problem = fmt.Sprintf("-o %q: want text or json", opts.output)
	}
	if problem == "" && sourceIPs != "" {
		for _, s := range strings.Split(sourceIPs, ",") {
			ip := net.ParseIP(strings.TrimSpace(s))
			if ip == nil {
				problem = fmt.Sprintf("--source-ips: %q is not an IP address", s)
				break
			}
			cfg.SourceIPs = append(cfg.SourceIPs, ip)
		}
	}
	if problem == "" {
		if err := cfg.Validate(); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		fmt.Fprintf(stderr, "wsload: %s\n", problem)
		return opts, errUsage
	}
	return opts, nil
}

// run performs the run the flags ask for and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitError
	}
	limit, err := loadgen.RaiseFileLimit()
	if err != nil {
		fmt.Fprintf(stderr, "wsload: warning: %v\n", err)
	} else if err := loadgen.CheckFileLimit(opts.cfg.Conns, limit); err != nil {
		fmt.Fprintf(stderr, "wsload: warning: %v\n", err)
	}
	// Open the timeline before the run: an unwritable path should not
	// cost a whole run.
	var timeline *os.File
	if opts.timeline != "" {
		if timeline, err = os.Create(opts.timeline); err != nil {
			fmt.Fprintf(stderr, "wsload: %v\n", err)
			return exitError
		}
		defer timeline.Close()
	}

	opts.cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("component", "wsload")
	res, err := loadgen.Run(ctx, opts.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wsload: %v\n", err)
		return exitError
	}
	code := exitOK
	if timeline != nil {
		if err := writeTimeline(timeline, res); err != nil {
			fmt.Fprintf(stderr, "wsload: %v\n", err)
			code = exitError
		}
	}
	if err := writeResult(stdout, opts.output, res); err != nil {
		fmt.Fprintf(stderr, "wsload: %v\n", err)
		return exitError
	}
	if res.Connected == 0 {
		fmt.Fprintf(stderr, "wsload: no connection could be made to %s: %s\n", opts.cfg.URL, res.FirstError)
		return exitError
	}
	return code
}

func writeTimeline(f *os.File, res loadgen.Result) error {
	if err := res.WriteTimelineCSV(f); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

func writeResult(w io.Writer, format string, res loadgen.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(w)
}
