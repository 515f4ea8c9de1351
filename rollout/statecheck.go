package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
)

// ErrDamagedState is wrapped when a state file holds what no rollout
// writes. The file lives beside the admin socket, where others than the
// operator may write: its names reach the deploy command's environment,
// its indices the loop, so nothing in it is taken on trust.
var ErrDamagedState = errors.New("damaged state file")

// maxFallback bounds a step's fallback message: Choose writes a sentence.
const maxFallback = 1024

// decodeCheckpoint decodes and checks a state file's content; path is for the
// messages. It never returns a state that would make Run panic or hand a
// name outside discovery.NamePattern to a command.
func decodeCheckpoint(path string, b []byte) (*Checkpoint, error) {
	var s Checkpoint
	err := json.Unmarshal(b, &s)
	if err == nil {
		err = s.check()
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	return &s, nil
}

// damaged is the error for a state file at path that err says is wrong.
func damaged(path string, err error) error {
	return fmt.Errorf("rollout: %w %s: %w: remove it to start over", ErrDamagedState, path, err)
}

// check reports the first field of s that no rollout writes, as
// "field: problem". Whether the servers are in the backend is for Run to
// check (checkServers): it needs the sockets.
func (s *Checkpoint) check() error {
	if err := haproxy.ValidName(s.Backend); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	if len(s.Order) == 0 {
		return errors.New("order: no server")
	}
	seen := map[string]string{}
	for i, name := range s.Order {
		field := fmt.Sprintf("order[%d]", i)
		if err := checkName(field, name); err != nil {
			return err
		}
		if first, ok := seen[name]; ok {
			return fmt.Errorf("%s: %s is listed twice (%s)", field, name, first)
		}
		seen[name] = field
	}
	if s.Surge != "" {
		if err := checkName("surge", s.Surge); err != nil {
			return err
		}
		if first, ok := seen[s.Surge]; ok {
			return fmt.Errorf("surge: %s is also %s", s.Surge, first)
		}
	}
	removing := s.Index == len(s.Order)
	switch {
	case s.Index < 0 || s.Index > len(s.Order):
		return fmt.Errorf("index: %d is outside 0-%d", s.Index, len(s.Order))
	case s.Phase != PhaseDrain && s.Phase != PhaseDeploy && s.Phase != PhaseReadmit:
		return fmt.Errorf("phase: %.40q is not drain, deploy or readmit", s.Phase)
	case removing && s.Phase != PhaseDrain:
		return fmt.Errorf("phase: %s with every server deployed (only the surge's drain is left)", s.Phase)
	case s.Paused && s.Phase != PhaseDeploy:
		return fmt.Errorf("paused: in phase %s (a rollout pauses to deploy)", s.Phase)
	case s.SurgeUp && s.Surge == "":
		return errors.New("surge_up: no surge")
	}
	// The held servers are those still to be deployed, and the surge.
	toDeploy := s.Order[s.Index:]
	for i, name := range s.Held {
		field := fmt.Sprintf("held[%d]", i)
		if err := checkName(field, name); err != nil {
			return err
		}
		if slices.Index(s.Held, name) != i {
			return fmt.Errorf("%s: %s is listed twice", field, name)
		}
		if !slices.Contains(toDeploy, name) && (name != s.Surge || s.Surge == "") {
			return fmt.Errorf("%s: %s is neither still to be deployed nor the surge", field, name)
		}
	}
	// A step is filed for each server deployed, in order, then one for
	// the surge's removal.
	steps := s.Index
	if removing && s.Surge != "" && !s.SurgeUp && len(s.Steps) == steps+1 {
		steps++
	}
	if len(s.Steps) != steps {
		return fmt.Errorf("steps: %d, want %d with index %d", len(s.Steps), steps, s.Index)
	}
	for i := range s.Steps {
		if err := s.checkStep(fmt.Sprintf("steps[%d]", i), &s.Steps[i], i); err != nil {
			return err
		}
	}
	switch {
	case s.Current == nil && (s.Phase == PhaseDeploy || s.Phase == PhaseReadmit):
		return fmt.Errorf("current: none in phase %s", s.Phase)
	case s.Current == nil:
		return nil
	case removing && !s.SurgeUp:
		return errors.New("current: a step in progress with every server deployed and no surge up")
	}
	return s.checkStep("current", s.Current, s.Index)
}

// checkStep checks the step of the i-th server of the order (the surge's
// removal for i == len(Order)).
func (s *Checkpoint) checkStep(field string, st *Step, i int) error {
	server, surge := s.Surge, i == len(s.Order)
	if !surge {
		server = s.Order[i]
	}
	switch {
	case st.Server != server:
		return fmt.Errorf("%s.server: %.80q, want %s", field, st.Server, server)
	case st.Number != i+1 || st.Of != len(s.Order):
		return fmt.Errorf("%s: step %d of %d, want %d of %d", field, st.Number, st.Of, i+1, len(s.Order))
	case st.Surge != surge:
		return fmt.Errorf("%s.surge: %v, want %v", field, st.Surge, surge)
	case st.Before < 0 || st.Cuts < 0:
		return fmt.Errorf("%s: negative sessions_before %d or cuts %d", field, st.Before, st.Cuts)
	case !slices.Contains([]drain.Outcome{"", drain.Drained, drain.TimedOut, drain.Canceled, drain.Failed}, st.Drain):
		return fmt.Errorf("%s.drain: %.40q is not an outcome", field, st.Drain)
	case len(st.Fallback) > maxFallback || slices.ContainsFunc([]rune(st.Fallback), func(r rune) bool { return !unicode.IsPrint(r) }):
		return fmt.Errorf("%s.fallback: longer than %d bytes or not printable", field, maxFallback)
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"landing", st.Landing}, {"held", st.Held}} {
		for j, name := range list.names {
			if err := s.checkMember(fmt.Sprintf("%s.%s[%d]", field, list.name, j), name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkMember checks that name is a server of the rollout.
func (s *Checkpoint) checkMember(field, name string) error {
	if err := checkName(field, name); err != nil {
		return err
	}
	if !slices.Contains(s.Order, name) && (name != s.Surge || s.Surge == "") {
		return fmt.Errorf("%s: %s is not a server of the rollout", field, name)
	}
	return nil
}

// checkName refuses a name that is not a plain server name: the strict
// pattern of discovered instances and spec servers, which a shell, a log
// line and the runtime API all take as one word.
func checkName(field, name string) error {
	if !discovery.NamePattern.MatchString(name) {
		return fmt.Errorf("%s: %.80q is not a server name (a letter or digit, then letters, digits and _ . : -, at most 63)", field, name)
	}
	return nil
}
