package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wsctl/wsctl/internal/inputfile"
	"github.com/wsctl/wsctl/internal/statefile"
)

// Phase is where a server stands in its step.
type Phase string

// The phases of a step, in order.
const (
	// PhaseDrain: the landing set is being chosen and the server drained.
	PhaseDrain Phase = "drain"
	// PhaseDeploy: the server is in MAINT with no session; the deploy
	// command runs (or, paused, the pipeline deploys it).
	PhaseDeploy Phase = "deploy"
	// PhaseReadmit: the server is set READY and waited for until its
	// fresh health check passes.
	PhaseReadmit Phase = "readmit"
)

// Checkpoint is the rollout's place, kept in a file after every phase change so
// a rollout killed at any point goes on where it stopped.
type Checkpoint struct {
	Backend string `json:"backend"`
	// Order is every server to deploy, in order; Index is the one in
	// progress (len(Order) once all are deployed and only the surge is
	// left to remove).
	Order []string `json:"order"`
	Index int      `json:"index"`
	Phase Phase    `json:"phase"`
	// Paused is set when a --pause rollout waits for the pipeline to
	// deploy Order[Index].
	Paused bool `json:"paused,omitempty"`
	// Surge is the server added for the rollout; SurgeUp once it takes
	// clients.
	Surge   string `json:"surge,omitempty"`
	SurgeUp bool   `json:"surge_up,omitempty"`
	// Held are the servers the rollout set to DRAIN to keep clients off
	// them; they are readmitted in their turn or on a fallback.
	Held []string `json:"held,omitempty"`
	// Steps are the finished steps; Current the one in progress.
	Steps   []Step    `json:"steps"`
	Current *Step     `json:"current,omitempty"`
	Started time.Time `json:"started"`
}

// Where says in words where the rollout stands, for the resume message.
func (s *Checkpoint) Where() string {
	if s.Index >= len(s.Order) {
		if s.Surge == "" {
			return fmt.Sprintf("all %d servers deployed, releasing the holds", len(s.Order))
		}
		return fmt.Sprintf("all %d servers deployed, removing the surge %s", len(s.Order), s.Surge)
	}
	what := map[Phase]string{
		PhaseDrain:   "being drained",
		PhaseDeploy:  "drained, to be deployed",
		PhaseReadmit: "deployed, to be readmitted",
	}[s.Phase]
	return fmt.Sprintf("%d of %d servers done, %s %s", s.Index, len(s.Order), s.Order[s.Index], what)
}

// server is the server in progress.
func (s *Checkpoint) server() string {
	if s.Index < len(s.Order) {
		return s.Order[s.Index]
	}
	return s.Surge
}

// LoadCheckpoint reads the state file; ok is false when there is none. A file
// that no rollout could have written is refused with ErrDamagedState.
func LoadCheckpoint(path string) (*Checkpoint, bool, error) {
	b, err := statefile.Read(path, inputfile.MaxConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rollout: state: %w", err)
	}
	s, err := decodeCheckpoint(path, b)
	if err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// save writes the state atomically: a rollout killed while writing leaves
// the previous state, never half a file. It is a state file (package
// statefile): a link or a file another user owns in its place is refused.
func (s *Checkpoint) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("rollout: state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("rollout: state: %w", err)
	}
	if _, err := statefile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("rollout: state: %w", err)
	}
	return nil
}
