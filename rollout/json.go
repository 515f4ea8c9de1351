package rollout

import (
	"time"

	"github.com/wsctl/wsctl/paced"
)

// StepJSON is one step of `wsctl rollout -o json` (docs/operations.md): a
// documented contract, so fields are only ever added. The step's own
// fields are Move's, as the state file has them.
type StepJSON struct {
	Type    string `json:"type"`
	Backend string `json:"backend"`
	Move
	DrainS   float64 `json:"drain_s"`
	DeployS  float64 `json:"deploy_s"`
	ReadmitS float64 `json:"readmit_s"`
	Elapsed  float64 `json:"elapsed_s"`
}

// JSON is the step's line for backend.
func (s Step) JSON(backend string) StepJSON {
	drained, deployed, ready, total := s.Durations()
	return StepJSON{Type: "step", Backend: backend, Move: s.Move,
		DrainS: paced.Seconds(drained), DeployS: paced.Seconds(deployed), ReadmitS: paced.Seconds(ready), Elapsed: paced.Seconds(total)}
}

// Summary is the last line of `wsctl rollout -o json`.
type Summary struct {
	Type    string `json:"type"`
	Backend string `json:"backend"`
	// Result is "done", "paused" (with Paused) or "stopped" (with
	// Stopped).
	Result  string    `json:"result"`
	Steps   int       `json:"steps"`
	Cuts    int       `json:"cuts"`
	Elapsed float64   `json:"elapsed_s"`
	Resumed string    `json:"resumed,omitempty"`
	Paused  *PausedAt `json:"paused,omitempty"`
	Stopped *Stopped  `json:"stopped,omitempty"`
}

// PausedAt is the server a paused rollout waits to be deployed.
type PausedAt struct {
	Server  string `json:"server"`
	Address string `json:"address"`
}

// Stopped is where a rollout stopped, and why.
type Stopped struct {
	Server string `json:"server"`
	Phase  string `json:"phase"`
	Error  string `json:"error"`
}

// Summary is how the Run that returned r and err went, in elapsed.
func (r Result) Summary(backend string, err error, elapsed time.Duration) Summary {
	sum := Summary{Type: "rollout", Backend: backend, Result: "done", Steps: len(r.Steps), Cuts: r.Cuts(), Elapsed: paced.Seconds(elapsed), Resumed: r.Resumed}
	switch {
	case err != nil:
		sum.Result = "stopped"
		sum.Stopped = &Stopped{Phase: string(r.Phase), Error: err.Error()}
		if r.Current != nil {
			sum.Stopped.Server = r.Current.Server
		}
	case r.Paused != nil:
		sum.Result = "paused"
		sum.Paused = &PausedAt{Server: r.Paused.Name, Address: r.Paused.Addr}
	}
	return sum
}
