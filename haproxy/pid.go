package haproxy

import (
	"context"
	"fmt"
)

// Pid asks HAProxy again which process answers on the socket (`show info`,
// field Pid), under the client's deadline. In master-worker mode a reload
// hands the socket to a new worker while the old one keeps its sessions,
// invisible from here: a Pid that differs from an earlier one means
// everything read before is about a process this socket no longer reaches.
//
// It asks outside interactive mode, in one round trip: a drain asks at
// every count.
func (c *Client) Pid(ctx context.Context) (int64, error) {
	var info Info
	reply, err := c.oneShot(ctx, "show info")
	if err == nil {
		info, err = parseInfo(reply)
	}
	if err == nil && info.Pid <= 0 {
		err = fmt.Errorf("%w: show info has no Pid", ErrBadReply)
	}
	if err != nil {
		return 0, c.wrap("read pid", err)
	}
	return info.Pid, nil
}

// oneShot runs cmd on a connection of its own outside interactive mode
// (session.oneShot).
func (c *Client) oneShot(ctx context.Context, cmd string) (string, error) {
	// Checked here too so that a refused command does not even connect.
	if err := checkCommand(cmd); err != nil {
		return "", err
	}
	s, err := dial(ctx, c.path, c.timeout)
	if err != nil {
		return "", err
	}
	defer s.close()
	return s.oneShot(cmd)
}
