package main

import (
	"fmt"
	"io"

	"github.com/aymanbagabas/go-udiff"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/reload"
)

// reloadPlanJSON is the output of `wsctl reload --dry-run -o json`: a
// documented contract, so fields are only ever added.
type reloadPlanJSON struct {
	DryRun bool `json:"dry_run"`
	// Reload is always true: a run that would not reload stops with exit
	// 2 before this is printed.
	Reload          bool               `json:"reload"`
	Config          string             `json:"config"`
	Changed         bool               `json:"changed"`
	Diff            string             `json:"diff"`
	OldPid          int64              `json:"old_pid"`
	StateFile       string             `json:"state_file"`
	CreateStateFile bool               `json:"create_state_file"`
	Handover        reloadHandoverJSON `json:"handover"`
}

type reloadHandoverJSON struct {
	After    float64                 `json:"after_s"`
	Timeout  float64                 `json:"timeout_s"`
	Workers  []reloadPlanWorkerJSON  `json:"workers"`
	Backends []reloadPlanBackendJSON `json:"backends"`
}

type reloadPlanWorkerJSON struct {
	Pid      int64 `json:"pid"`
	Current  bool  `json:"current"`
	Sessions int   `json:"sessions"`
}

type reloadPlanBackendJSON struct {
	Backend  string  `json:"backend"`
	Sessions int     `json:"sessions"`
	Rate     float64 `json:"close_rate"`
	Closing  float64 `json:"close_s"`
}

// writeReloadPlan prints what `wsctl reload` would do: the config's diff,
// the worker it would replace and the hand-over that would follow.
func writeReloadPlan(opts *ReloadOptions, stateFile string, config []byte, plan reload.Plan, hopts handover.Options, fc handover.Forecast) error {
	out := reloadPlanJSON{DryRun: true, Reload: true, Config: opts.HAProxyConfig, Changed: plan.Changed,
		Diff:   udiff.Unified(opts.HAProxyConfig, "generated", string(plan.Current), string(config)),
		OldPid: plan.Old, StateFile: stateFile, CreateStateFile: plan.CreateStateFile,
		Handover: reloadHandoverJSON{After: seconds(hopts.After), Timeout: seconds(hopts.Timeout),
			Workers: []reloadPlanWorkerJSON{}, Backends: []reloadPlanBackendJSON{}}}
	for _, w := range fc.Workers {
		out.Handover.Workers = append(out.Handover.Workers, reloadPlanWorkerJSON{Pid: w.Pid, Current: w.Current, Sessions: w.Sessions})
	}
	for _, b := range fc.Backends {
		out.Handover.Backends = append(out.Handover.Backends, reloadPlanBackendJSON{Backend: b.Backend, Sessions: b.Sessions, Rate: b.Rate, Closing: seconds(b.Closing)})
	}
	return writeResult(opts.IO.Out, opts.Output, out, func(w io.Writer) error { return writeReloadPlanText(w, out) }, true)
}

// writeReloadPlanText is the dry run for a human, in the order a reload
// would go.
func writeReloadPlanText(w io.Writer, p reloadPlanJSON) error {
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
