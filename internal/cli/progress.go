package cli

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// Progress intervals: on a terminal a person watches, so a line a second;
// a CI log keeps every line, so one every 2 s is enough to show that
// something is happening without burying the result.
const (
	progressTTY = time.Second
	progressLog = 2 * time.Second
)

// Progress writes a long operation's progress (drain, hand-over, rollout,
// rebalance) to stderr: on a terminal at once and then at most a line a
// second; without one the first line after 2 s, then at most a line every
// 2 s and the last one at the end, so an operation done within 2 s logs
// only its result. With --quiet nothing: a nil *Progress shows nothing.
// Safe for concurrent use: drains on several sockets report from their
// own goroutines.
type Progress struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	// shown is when the last line was written (for a log: the start).
	shown time.Time
	// any is whether a line was written: only then does Done add one.
	any bool
	// pending is the newest line not shown yet, written by Done.
	pending []byte
}

// NewProgress is the progress of a command: nil with quiet, and on a
// terminal only for human output (JSON on a terminal would interleave).
// Without a terminal it shows in both formats: stdout stays the report.
func NewProgress(ios *IOStreams, quiet, human bool) *Progress {
	switch {
	case quiet, ios.ErrTTY && !human:
		return nil
	case ios.ErrTTY:
		return &Progress{w: ios.ErrOut, every: progressTTY}
	}
	return &Progress{w: ios.ErrOut, every: progressLog, shown: time.Now()}
}

// TerminalProgress is the progress of the commands that show it on a
// terminal only (short waits); nil without one.
func TerminalProgress(ios *IOStreams) *Progress {
	if !ios.ErrTTY {
		return nil
	}
	return NewProgress(ios, false, true)
}

// Show writes what write produces when a line is due or force is set (a
// step worth a line of its own); otherwise it keeps it for Done.
func (p *Progress) Show(force bool, write func(io.Writer)) {
	if p == nil {
		return
	}
	var b bytes.Buffer
	write(&b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && time.Since(p.shown) < p.every {
		p.pending = b.Bytes()
		return
	}
	p.shown, p.any, p.pending = time.Now(), true, nil
	_, _ = p.w.Write(b.Bytes())
}

// Done writes the newest line not shown yet, once some were, so the log
// ends with where the operation stood.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.any && p.pending != nil {
		_, _ = p.w.Write(p.pending)
		p.pending = nil
	}
}

// QuietFlag adds --quiet to a command that shows progress.
func QuietFlag(cmd *cobra.Command, quiet *bool) {
	cmd.Flags().BoolVarP(quiet, "quiet", "q", false, "show no progress on stderr (the result is still printed)")
}
