// Package logging builds the loggers of wsctl's commands: text or JSON
// records (NewHandler), warnings and errors that repeat logged once per
// interval with a count instead of at every retry (Repeats), and the
// warnings of a one-shot command (Warnings).
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// The formats NewHandler writes.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// NewHandler returns a handler writing to w in format (FormatText: slog's
// key=value lines; FormatJSON: one JSON object a line).
func NewHandler(w io.Writer, format string, opts *slog.HandlerOptions) (slog.Handler, error) {
	switch format {
	case FormatText:
		return slog.NewTextHandler(w, opts), nil
	case FormatJSON:
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("logging: format %q: want %q or %q", format, FormatText, FormatJSON)
}

// Warnings logs warnings and errors to w as text lines without a time: a
// one-shot command's notes on stderr (a discovered instance left out), not
// a log a daemon keeps.
func Warnings(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
