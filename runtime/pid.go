package runtime

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Pid asks HAProxy again which process answers on the socket (`show info`,
// field Pid), under the client's deadline. In master-worker mode a reload
// hands the socket to a new worker while the old one keeps its sessions,
// invisible from here: a Pid that differs from an earlier one means
// everything read before is about a process this socket no longer reaches.
func (c *Client) Pid(ctx context.Context) (int64, error) {
	reply, err := c.raw(ctx, "show info")
	if err != nil {
		return 0, c.wrap("read pid", err)
	}
	pid, err := parsePid(reply)
	if err != nil {
		return 0, c.wrap("read pid", err)
	}
	return pid, nil
}

// parsePid finds the "Pid: N" line of a `show info` reply.
func parsePid(reply string) (int64, error) {
	for _, line := range strings.Split(reply, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "Pid" {
			continue
		}
		pid, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("%w: show info: Pid %q", ErrBadReply, strings.TrimSpace(value))
		}
		return pid, nil
	}
	return 0, fmt.Errorf("%w: show info has no Pid", ErrBadReply)
}
