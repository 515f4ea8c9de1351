package reload

import (
	"bytes"
	"context"
	"errors"
	"io/fs"

	"github.com/wsctl/wsctl/internal/statefile"
)

// Checker is what Preview needs of an HAProxy: Run's checks, none of its
// changes.
type Checker[W Worker] interface {
	Validate(ctx context.Context, config []byte) error
	Worker(ctx context.Context) (W, error)
	// Current reads the config file as it is now (nil when it does not
	// exist yet).
	Current() ([]byte, error)
}

// Plan is what Run would do now, found by Preview.
type Plan struct {
	// Current is the config file's content now (nil: Run would create it);
	// Changed reports whether Run would change it.
	Current []byte
	Changed bool
	// CreateStateFile reports that the state file does not exist: Run
	// would create it empty before saving the state into it.
	CreateStateFile bool
	// Old is the worker that answers now: the one Run would replace.
	Old int64
}

// Preview goes through Run's steps up to the first change, and changes
// nothing: it checks the state file, validates config with the binary,
// dials the worker that answers now, and compares config with the file.
// It fails where Run would fail before changing anything, with the same
// *Error (StepState, StepValidate, StepDial); opts.StateError is called
// as Run would.
func Preview[W Worker](ctx context.Context, h Checker[W], config []byte, opts Options) (Plan, error) {
	var plan Plan
	if opts.StateFile != "" {
		err := statefile.Check(opts.StateFile)
		plan.CreateStateFile = errors.Is(err, fs.ErrNotExist)
		if err != nil && !plan.CreateStateFile {
			if opts.StateError == nil {
				return plan, &Error{Step: StepState, Err: err}
			}
			opts.StateError(err)
		}
	}
	if err := h.Validate(ctx, config); err != nil {
		return plan, &Error{Step: StepValidate, Err: err}
	}
	old, err := h.Worker(ctx)
	if err != nil {
		return plan, &Error{Step: StepDial, Err: err}
	}
	plan.Old = old.Info().Pid
	if plan.Current, err = h.Current(); err != nil {
		return plan, &Error{Step: StepWrite, Err: err}
	}
	plan.Changed = plan.Current == nil || !bytes.Equal(plan.Current, config)
	return plan, nil
}
