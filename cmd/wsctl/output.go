package main

import (
	"io"

	"github.com/wsctl/wsctl/internal/cli"
)

// writeResult prints a command's result to w: v as JSON with -o json,
// else text. It returns errDiffers (exit 1) unless ok, in both formats.
func writeResult(w io.Writer, output string, v any, text func(io.Writer) error, ok bool) error {
	var err error
	if output == "json" {
		err = cli.WriteJSON(w, v)
	} else {
		err = text(w)
	}
	if err != nil || ok {
		return err
	}
	return errDiffers
}
