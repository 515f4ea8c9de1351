package reload

import (
	"github.com/aymanbagabas/go-udiff"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/paced"
)

// Summary is the summary of `wsctl reload -o json` (docs/operations.md): a
// documented contract, so fields are only ever added.
type Summary struct {
	Result  string          `json:"result"`
	OldPid  int64           `json:"old_pid"`
	NewPid  int64           `json:"new_pid"`
	Elapsed float64         `json:"elapsed_s"`
	Workers []WorkerSummary `json:"workers"`
}

// WorkerSummary is one old worker's hand-over.
type WorkerSummary struct {
	Pid     int64   `json:"pid"`
	Result  string  `json:"result"`
	Before  int     `json:"sessions_before"`
	Left    int     `json:"sessions_left"`
	Closed  int     `json:"closed"`
	Elapsed float64 `json:"elapsed_s"`
	Error   string  `json:"error,omitempty"`
}

// Summarize is the reload rl followed by the hand-over res.
func Summarize(rl Applied, res handover.Result) Summary {
	out := Summary{Result: string(res.Outcome()), OldPid: rl.Old, NewPid: rl.New, Elapsed: paced.Seconds(res.Elapsed), Workers: []WorkerSummary{}}
	for _, r := range res.Reports {
		w := WorkerSummary{Pid: r.Worker, Result: string(r.Outcome), Before: r.Before, Left: r.Left, Closed: r.Closed, Elapsed: paced.Seconds(r.Elapsed)}
		if r.Err != nil {
			w.Error = r.Err.Error()
		}
		out.Workers = append(out.Workers, w)
	}
	return out
}

// PlanSummary is what `wsctl reload --dry-run -o json` prints: a
// documented contract, so fields are only ever added.
type PlanSummary struct {
	DryRun bool `json:"dry_run"`
	// Reload is always true: a run that would not reload stops with exit
	// 2 before this is printed.
	Reload          bool         `json:"reload"`
	Config          string       `json:"config"`
	Changed         bool         `json:"changed"`
	Diff            string       `json:"diff"`
	OldPid          int64        `json:"old_pid"`
	StateFile       string       `json:"state_file"`
	CreateStateFile bool         `json:"create_state_file"`
	Handover        HandoverPlan `json:"handover"`
}

// HandoverPlan is the hand-over a reload would be followed by.
type HandoverPlan struct {
	After    float64       `json:"after_s"`
	Timeout  float64       `json:"timeout_s"`
	Workers  []PlanWorker  `json:"workers"`
	Backends []PlanBackend `json:"backends"`
}

// PlanWorker is a worker the hand-over would wait for.
type PlanWorker struct {
	Pid      int64 `json:"pid"`
	Current  bool  `json:"current"`
	Sessions int   `json:"sessions"`
}

// PlanBackend is a backend's sessions the hand-over would close.
type PlanBackend struct {
	Backend  string  `json:"backend"`
	Sessions int     `json:"sessions"`
	Rate     float64 `json:"close_rate"`
	Closing  float64 `json:"close_s"`
}

// Summary is p, the plan of writing config to configFile, with the
// hand-over fc forecast with hopts; the diff is configFile's unified diff.
func (p Plan) Summary(configFile string, config []byte, stateFile string, hopts handover.Options, fc handover.Forecast) PlanSummary {
	out := PlanSummary{DryRun: true, Reload: true, Config: configFile, Changed: p.Changed,
		Diff:   udiff.Unified(configFile, "generated", string(p.Current), string(config)),
		OldPid: p.Old, StateFile: stateFile, CreateStateFile: p.CreateStateFile,
		Handover: HandoverPlan{After: paced.Seconds(hopts.After), Timeout: paced.Seconds(hopts.Timeout),
			Workers: []PlanWorker{}, Backends: []PlanBackend{}}}
	for _, w := range fc.Workers {
		out.Handover.Workers = append(out.Handover.Workers, PlanWorker{Pid: w.Pid, Current: w.Current, Sessions: w.Sessions})
	}
	for _, b := range fc.Backends {
		out.Handover.Backends = append(out.Handover.Backends, PlanBackend{Backend: b.Backend, Sessions: b.Sessions, Rate: b.Rate, Closing: paced.Seconds(b.Closing)})
	}
	return out
}
