package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/agent"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/internal/logging"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/spec"
)

// AgentOptions are the flags of wsctl agent.
type AgentOptions struct {
	IO       *cli.IOStreams
	SpecPath string
	// HAProxyConfig is the config file the running HAProxy loads; set, it
	// makes HAProxy the target.
	HAProxyConfig string
	// NginxConfig is the config file the running nginx loads; set, it makes
	// nginx the target. Exactly one of the two is set.
	NginxConfig string
	// Listen serves /metrics and /healthz; "" disables it.
	Listen             string
	MinQuiet, MaxQuiet time.Duration
	ReloadInterval     time.Duration
	// UnhealthyAfter is how long discovery may fail before /healthz says
	// so.
	UnhealthyAfter time.Duration
	// Verbose logs at debug level.
	Verbose bool
	// AgentID names the agent in the fleet ("": the Consul node name).
	AgentID string
	// LogFormat is logging.FormatText or logging.FormatJSON.
	LogFormat string
	// LogRepeats is the interval of repeated warnings and errors (0: log
	// every one).
	LogRepeats time.Duration
}

// NewCmdAgent builds `wsctl agent`.
func NewCmdAgent(f *Factory, runF func(*AgentOptions) error) *cobra.Command {
	io := f.IO
	opts := &AgentOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Keep a running HAProxy or nginx in step with the spec and Consul",
		Long: `Follow the backends' Consul services (and the static servers of the spec) and
change the running HAProxy through its admin socket, without reloading it:
new instances are added, address and weight changes applied, removed or
failing instances drained (DRAIN until their WebSockets are gone or the
backend's drain_timeout passes, then MAINT, the rest closed, and a removed
server deleted). A server an operator put in DRAIN or MAINT is left there.

The rendered config is written to --haproxy-config after every change, so a
restart starts from the current membership. A change beyond the server lines
(a new backend, a new template) is validated with haproxy -c, written and
reloaded through the master socket, at most once per --reload-interval; a
config HAProxy rejects is logged and the running one kept.

The spec file is read again every 2 s, and at once on SIGHUP (systemctl
reload), which also compares the proxy with the desired state: a changed spec
that loads replaces the old one (its HAProxy sockets excepted); one that does
not is logged and the old one kept.

Under systemd (Type=notify, $NOTIFY_SOCKET set) the agent reports READY=1
after its first complete sync and STOPPING=1 when it shuts down.

Snapshots are debounced: the agent applies once discovery is quiet for
--min-quiet, and at the latest --max-quiet after the first change.

Logs go to stderr, as key=value text or, with --log-format json, one JSON
object a line. A warning or error that repeats (HAProxy or Consul down, met
at every retry) is logged once, then once per --log-repeats with the count
of repeats (repeated=N).

/metrics (Prometheus: wsctl_agent_* by backend and operation, wsctl_build_info,
go_* and process_*) and /healthz are served on --listen. /healthz answers 200
"ok", or 503 with the reasons, one a line: HAProxy's admin socket did not
answer the last sync; Consul queries have been failing for longer than
--unhealthy-after; no sync completed yet.

With --nginx-config instead of --haproxy-config the agent drives nginx, which
has no runtime API: every change of the rendered config (a server added,
removed, failing) is validated with nginx -t, written atomically to that file
and reloaded with SIGHUP to the master whose PID is in the spec's
nginx.pid_file (no need for nginx's prefix), at most once per
--reload-interval; changes arriving inside the interval are applied together
when it ends. A reload counts once the master has started a new worker; a
config nginx rejects is logged and the old file kept. Old workers keep their
WebSockets until they close or nginx.worker_shutdown_timeout passes.`,
		Example: `  wsctl agent -c /etc/wsctl/wsctl.yaml --haproxy-config /etc/haproxy/haproxy.cfg
  wsctl agent -c /etc/wsctl/wsctl.yaml --nginx-config /etc/nginx/nginx.conf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (opts.HAProxyConfig == "") == (opts.NginxConfig == "") {
				return errors.New("exactly one of --haproxy-config and --nginx-config is required")
			}
			if runF != nil {
				return runF(opts)
			}
			return agentRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.SpecPath, "config", "c", "", "path of the wsctl spec "+specDefaultHelp)
	cmd.Flags().StringVar(&opts.HAProxyConfig, "haproxy-config", "", "drive HAProxy; the config file it runs with (kept up to date)")
	cmd.Flags().StringVar(&opts.NginxConfig, "nginx-config", "", "drive nginx; the config file it runs with (kept up to date)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:9180", "serve /metrics and /healthz here (\"\" disables)")
	cli.PositiveDurationVar(cmd.Flags(), &opts.MinQuiet, "min-quiet", agent.DefaultMinQuiet, "apply once discovery has been quiet this long")
	cli.PositiveDurationVar(cmd.Flags(), &opts.MaxQuiet, "max-quiet", agent.DefaultMaxQuiet, "apply at the latest this long after the first change")
	cli.PositiveDurationVar(cmd.Flags(), &opts.ReloadInterval, "reload-interval", agent.DefaultReloadInterval, "least time between two reloads")
	cli.PositiveDurationVar(cmd.Flags(), &opts.UnhealthyAfter, "unhealthy-after", agent.DefaultUnhealthyAfter, "/healthz fails once Consul queries have failed this long")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "log at debug level")
	cmd.Flags().StringVar(&opts.AgentID, "agent-id", "", "this load balancer's name in the fleet (what wsctl drain --fleet reports; default: the Consul agent's node name)")
	cli.ChoiceVar(cmd, &opts.LogFormat, "log-format", "", logging.FormatText, "log as text or json", logging.FormatText, logging.FormatJSON)
	cli.DurationVar(cmd.Flags(), &opts.LogRepeats, "log-repeats", agent.DefaultLogRepeats, "log a repeating warning or error once per interval, with its count (0: every time)")
	return cmd
}

func agentRun(opts *AgentOptions) error {
	s, specPath, err := spec.LoadGiven(opts.SpecPath, opts.IO.Env, opts.IO.SpecSearch)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if opts.Verbose {
		level = slog.LevelDebug
	}
	h, err := logging.NewHandler(opts.IO.ErrOut, opts.LogFormat, &slog.HandlerOptions{Level: level})
	if err != nil {
		return err
	}
	log := slog.New(h)
	repeats := opts.LogRepeats
	if repeats == 0 {
		repeats = -1 // the agent's "every time"
	}
	target, file := model.TargetHAProxy, opts.HAProxyConfig
	if opts.NginxConfig != "" {
		target, file = model.TargetNginx, opts.NginxConfig
	}
	// SIGHUP re-reads the spec instead of killing the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := agent.New(agent.Config{
		Spec:           s,
		Target:         target,
		SpecFile:       specPath,
		Reread:         hup,
		NotifySocket:   opts.IO.Env("NOTIFY_SOCKET"),
		ConfigFile:     file,
		MinQuiet:       opts.MinQuiet,
		MaxQuiet:       opts.MaxQuiet,
		ReloadInterval: opts.ReloadInterval,
		UnhealthyAfter: opts.UnhealthyAfter,
		Validator:      proxy.Validator{},
		Log:            log,
		AgentID:        opts.AgentID,
		LogRepeats:     repeats,
		Build:          build(),
	})
	if err != nil {
		return err
	}
	// Listen before anything runs: a busy address is an error of its own,
	// never a cancelled start.
	var l net.Listener
	if opts.Listen != "" {
		if l, err = net.Listen("tcp", opts.Listen); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	return a.RunServing(ctx, l)
}
