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
func (c *Client) Pid(ctx context.Context) (int64, error) {
	info, err := c.showInfo(ctx)
	if err == nil && info.Pid <= 0 {
		err = fmt.Errorf("%w: show info has no Pid", ErrBadReply)
	}
	if err != nil {
		return 0, c.wrap("read pid", err)
	}
	return info.Pid, nil
}
