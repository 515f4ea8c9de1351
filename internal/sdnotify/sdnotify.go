// Package sdnotify tells systemd about a service's state (sd_notify(3)):
// one datagram to the unix socket systemd names in $NOTIFY_SOCKET. A unit
// of Type=notify counts as started only once READY=1 arrives.
package sdnotify

import (
	"fmt"
	"net"
)

// The states wsctl sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Notify sends state (newline-separated VAR=value lines) to socket, the
// value of $NOTIFY_SOCKET. An empty socket means the process does not run
// under systemd (or not as Type=notify): nothing is sent and nil returned.
// A socket starting with "@" is in the abstract namespace.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if socket[0] == '@' {
		addr.Name = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}
