package haproxy

import "context"

// ServersStateText returns `show servers state` as HAProxy writes it, the
// format of a server-state-file (checked to be format 1 with the columns
// wsctl reads), for saving before a reload or a stop.
func (c *Client) ServersStateText(ctx context.Context) (string, error) {
	reply, err := c.raw(ctx, "show servers state")
	if err == nil {
		_, err = parseServersState(reply, nil)
	}
	if err != nil {
		return "", c.wrap("read servers state", err)
	}
	return reply, nil
}

// ParseServersState reads a server-state-file, or `show servers state`:
// the servers with their address, operational and administrative state and
// user weight (Scur, Check and Weight stay zero: they are in `show stat`).
func ParseServersState(text string) ([]ServerStatus, error) {
	return parseServersState(text, nil)
}
