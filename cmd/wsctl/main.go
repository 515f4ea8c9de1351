// Command wsctl is the control plane for WebSocket load balancing with HAProxy
// and nginx: it renders, checks, lints and drives their configuration and
// runtime state. See the README for the commands.
package main

import (
	"os"

	"github.com/wsctl/wsctl/internal/cli"
	"github.com/wsctl/wsctl/spec"
)

func main() { os.Exit(Main(os.Args[1:], cli.System(spec.SearchPaths))) }
