// Package logging builds the loggers of wsctl's long-running commands: text
// or JSON records (NewHandler), and warnings and errors that repeat logged
// once per interval with a count instead of at every retry (Repeats).
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
