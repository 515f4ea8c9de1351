package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/target"
)

// FleetOptions are the flags that make drain, ready, maint and status act on
// every load balancer through Consul instead of local admin sockets.
type FleetOptions struct {
	On           bool
	AllowMissing bool
	Reason       string
	// DryRun changes nothing: the command says what it would do and
	// refuses what it would refuse (a flag of the commands that change).
	DryRun bool
}

// addFlags adds --fleet and, for commands that change something,
// changeFlags.
func (f *FleetOptions) addFlags(cmd *cobra.Command, changes bool) {
	cmd.Flags().BoolVar(&f.On, "fleet", false, "act on every load balancer's agent through Consul (needs -c SPEC, no socket)")
	if changes {
		f.changeFlags(cmd)
	}
}

// changeFlags adds --reason, --allow-missing and --dry-run; rollout has
// them without --fleet (its backend's discovery chooses the fleet).
func (f *FleetOptions) changeFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Reason, "reason", "", "why, for the audit trail of the intents across the fleet (wsctl status --fleet shows it)")
	cmd.Flags().BoolVar(&f.AllowMissing, "allow-missing", false, "across the fleet, carry on when a load balancer's agent stops reporting")
	cmd.Flags().BoolVar(&f.DryRun, "dry-run", false, "change nothing: say what would be done, and refuse what would be refused")
}

// check refuses --fleet with --socket: one acts through Consul, the other
// on local sockets.
func (f *FleetOptions) check(s *SocketOptions) error {
	if f.On && len(s.Sockets) > 0 {
		return errors.New("--fleet acts through Consul on every load balancer; --socket acts on local sockets: give one of them")
	}
	if !f.On && f.AllowMissing {
		return errors.New("--allow-missing needs --fleet")
	}
	return nil
}

// reportFleet reports a fleet operation that ended as res (its table
// shown through p, nil: none), in text or JSON, and maps the outcome to
// the exit code. wrote says whether it wrote an intent (not a readmission).
func reportFleet(ios *cli.IOStreams, p *cli.Progress, res target.Result, where, output, verb string, wrote bool) error {
	st, ref := *res.Fleet, res.Ref
	p.Done()
	if st.TookOver != "" {
		// Two operators on one server: the later one wins, visibly to
		// both (the earlier one's command fails naming this one).
		fmt.Fprintf(ios.ErrOut, "wsctl: %s: took over from %s\n", ref, st.TookOver)
	}
	switch {
	case output == "json":
		if err := cli.WriteJSON(ios.Out, st.Summary(ref)); err != nil {
			return err
		}
	case st.Outcome == fleet.Done:
		fmt.Fprintf(ios.Out, "%s %s on %s in %s%s\n", ref, verb, loadBalancers(st), st.Elapsed.Round(100*time.Millisecond), missing(st))
	default:
		// Where each agent stopped is the result: shown even with
		// --quiet, instead of the last progress table.
		writeFleetTable(ios.ErrOut, st)
	}
	switch st.Outcome {
	case fleet.Done:
		return nil
	case fleet.TimedOut:
		if output != "json" {
			why := ""
			if st.Problem != "" {
				why = " (" + st.Problem + ")"
			}
			fmt.Fprintf(ios.ErrOut, "wsctl: %s %s: timed out%s; the intent stays in %s\n", verb, ref, why, where)
		}
		return errTimedOut
	}
	// The target's error says whether the intent was withdrawn.
	problem := res.Err.Error()
	if wrote && !st.Withdrawn {
		problem += fmt.Sprintf("; the intent stays in %s until `wsctl ready %s --fleet`", where, ref)
	}
	err := fmt.Errorf("%s %s: %s", verb, ref, problem)
	if output == "json" {
		return reported(ios.ErrOut, err)
	}
	return err
}

// fleetProgress shows a fleet operation's table through p; nil when p is.
func fleetProgress(p *cli.Progress, verb string) func(haproxy.Ref, fleet.Status) {
	if p == nil {
		return nil
	}
	return func(ref haproxy.Ref, st fleet.Status) {
		p.Show(false, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s (%s):\n", verb, ref, st.Elapsed.Round(time.Second))
			writeFleetTable(w, st)
		})
	}
}

// loadBalancers counts the load balancers that did it: "1 load balancer".
func loadBalancers(st fleet.Status) string {
	if n := st.NumDone(); n != 1 {
		return fmt.Sprintf("%d load balancers", n)
	}
	return "1 load balancer"
}

// missing names the agents an --allow-missing operation went on without.
func missing(st fleet.Status) string {
	ids := st.Missing()
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf("; missing: %s (--allow-missing)", strings.Join(ids, ", "))
}

// writeFleetTable shows one row per load balancer.
func writeFleetTable(w io.Writer, st fleet.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOAD BALANCER\tADMIN\tPHASE\tSESSIONS\tCLOSED\tDONE\tERROR")
	for _, r := range st.Rows {
		p := r.Shown()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%t\t%s\n", r.Agent, p.Admin, p.Phase, p.Sessions, p.Closed, r.Done, p.Error)
	}
	_ = tw.Flush()
}
