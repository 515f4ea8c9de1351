// Command wsecho is a WebSocket echo backend for demos, tests and benchmarks.
//
//	wsecho --listen 127.0.0.1:9001 --id backend1 [--close-spread 2s] [--greeting=true] [--health-file PATH]
//
// Every WebSocket is greeted with {"type":"hello","server":ID,"conn":N} and
// has its messages echoed back. GET /health answers 200 while healthy and 503
// otherwise; SIGUSR1 makes the backend unhealthy, SIGUSR2 healthy again.
// SIGTERM or SIGINT stops accepting, then closes every WebSocket with 1001
// spread over --close-spread and exits 0; a second signal cuts the rest and
// exits 1. See package echoserver for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/wsctl/wsctl/echoserver"
)

const (
	exitOK    = 0
	exitError = 1 // could not listen, or shutdown cut connections
	exitUsage = 2 // bad flags
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run parses args, serves until a stop signal and returns the exit code.
func run(args []string, stderr io.Writer) int {
	addr, cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "wsecho")
	cfg.Logger = log
	srv, err := echoserver.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wsecho: %v\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listen", "err", err)
		return exitError
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "id", cfg.ID)
	for {
		select {
		case err := <-served:
			log.Error("serve", "err", err)
			return exitError
		case sig := <-sigs:
			if toggleHealth(srv, sig) {
				continue
			}
			log.Info("stopping", "signal", sig.String())
			code := shutdown(srv, sigs, log)
			<-served
			return code
		}
	}
}

// errUsage means the flags were wrong and stderr already says why.
var errUsage = errors.New("usage")

// parseFlags returns the listen address and the server configuration.
func parseFlags(args []string, stderr io.Writer) (string, echoserver.Config, error) {
	cfg := echoserver.DefaultConfig("")
	fs := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:9001", "`address` to listen on (port 0 picks a free one; see the listening log line)")
	fs.StringVar(&cfg.ID, "id", "", "backend `name` used in the greeting, /health and X-Server (required)")
	fs.DurationVar(&cfg.CloseSpread, "close-spread", cfg.CloseSpread, "on SIGTERM, spread the 1001 closes over this `duration`")
	fs.BoolVar(&cfg.Greeting, "greeting", cfg.Greeting, `send {"type":"hello","server":ID,"conn":N} on every new WebSocket`)
	fs.StringVar(&cfg.HealthFile, "health-file", "", "healthy only while this `file` exists (checked per request)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: wsecho --id NAME [flags]\n\n"+
			"A WebSocket echo backend. SIGUSR1 = unhealthy, SIGUSR2 = healthy,\n"+
			"SIGTERM/SIGINT = close every WebSocket with 1001 over --close-spread, then exit.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", cfg, err
		}
		return "", cfg, errUsage // the flag set printed the error and the usage
	}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	case cfg.ID == "":
		problem = "--id is required"
	default:
		if err := cfg.Validate(); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		fmt.Fprintf(stderr, "wsecho: %s\n", problem)
		return "", cfg, errUsage
	}
	return *addr, cfg, nil
}

// toggleHealth applies SIGUSR1/SIGUSR2 and reports whether sig was one.
func toggleHealth(srv *echoserver.Server, sig os.Signal) bool {
	switch sig {
	case syscall.SIGUSR1:
		srv.SetHealthy(false)
	case syscall.SIGUSR2:
		srv.SetHealthy(true)
	default:
		return false
	}
	return true
}

// shutdown closes every WebSocket gracefully; a second stop signal cuts the
// rest at once.
func shutdown(srv *echoserver.Server, sigs <-chan os.Signal, log *slog.Logger) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if !toggleHealth(srv, sig) {
					log.Warn("second stop signal, cutting the remaining connections", "signal", sig.String())
					cancel()
					return
				}
			}
		}
	}()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return exitError
	}
	return exitOK
}
