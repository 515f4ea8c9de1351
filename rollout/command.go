package rollout

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// CommandGrace is how long a deploy command has to end after SIGTERM when
// the rollout is stopped, before it is killed.
const CommandGrace = 10 * time.Second

// Command returns a Deployer that runs script with `sh -c`, in env (nil:
// the process's environment) plus WSCTL_SERVER (the server's name) and
// WSCTL_ADDRESS (its host:port), writing to stdout and stderr. A non-zero
// exit is an error. When ctx ends the command gets SIGTERM, as a pipeline's
// step would, and SIGKILL after CommandGrace.
func Command(script string, env []string, stdout, stderr io.Writer) Deployer {
	return func(ctx context.Context, s Server) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		base := env
		if base == nil {
			base = os.Environ()
		}
		cmd.Env = append(slices.Clip(base), "WSCTL_SERVER="+s.Name, "WSCTL_ADDRESS="+s.Addr)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = CommandGrace
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%q for %s: %w", script, s.Name, err)
		}
		return nil
	}
}
