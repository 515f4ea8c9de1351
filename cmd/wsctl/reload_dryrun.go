package main

import (
	"fmt"
	"io"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/reload"
)

// writeReloadPlan prints what `wsctl reload` would do: the config's diff,
// the worker it would replace and the hand-over that would follow.
func writeReloadPlan(opts *ReloadOptions, stateFile string, config []byte, plan reload.Plan, hopts handover.Options, fc handover.Forecast) error {
	out := plan.Summary(opts.HAProxyConfig, config, stateFile, hopts, fc)
	return writeResult(opts.IO.Out, opts.Output, out, func(w io.Writer) error { return writeReloadPlanText(w, out) }, true)
}

// writeReloadPlanText is the dry run for a human, in the order a reload
// would go.
func writeReloadPlanText(w io.Writer, p reload.PlanSummary) error {
	fmt.Fprintln(w, "dry run: nothing written, saved or reloaded")
	if p.Changed {
		fmt.Fprintf(w, "%s would change:\n%s", p.Config, p.Diff)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", p.Config)
	}
	if p.StateFile != "" {
		create := ""
		if p.CreateStateFile {
			create = " (created first: it does not exist)"
		}
		fmt.Fprintf(w, "the server state would be saved to %s%s\n", p.StateFile, create)
	}
	fmt.Fprintf(w, "reload: worker %d would be replaced, then handed over after %gs (timeout %gs):\n", p.OldPid, p.Handover.After, p.Handover.Timeout)
	for _, wk := range p.Handover.Workers {
		what := "old worker"
		if wk.Current {
			what = "current worker"
		}
		fmt.Fprintf(w, "  %s %d: %d sessions\n", what, wk.Pid, wk.Sessions)
	}
	for _, b := range p.Handover.Backends {
		fmt.Fprintf(w, "  backend %s: %d sessions closed at %g/s, %gs at most\n", b.Backend, b.Sessions, b.Rate, b.Closing)
	}
	_, err := fmt.Fprintln(w, "the hand-over would close what is left after the grace period; clients reconnect to the new worker")
	return err
}
