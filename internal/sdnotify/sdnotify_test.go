package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// listen opens a datagram socket as systemd does and returns it with the
// $NOTIFY_SOCKET value naming it.
func listen(t *testing.T, abstract bool) (*net.UnixConn, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	env := name
	if abstract {
		env = fmt.Sprintf("@wsctl-sdnotify-test-%d", os.Getpid())
		name = "\x00" + env[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, env
}

func TestNotifyDelivers(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			conn, socket := listen(t, abstract)
			for _, state := range []string{Ready, Stopping} {
				if err := Notify(socket, state); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(buf[:n]); got != state {
					t.Errorf("received %q, want %q", got, state)
				}
			}
		})
	}
}

func TestNotifyWithoutSystemdIsNoop(t *testing.T) {
	if err := Notify("", Ready); err != nil {
		t.Errorf("Notify(\"\") = %v, want nil", err)
	}
}

func TestNotifyMissingSocketFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.sock")
	err := Notify(missing, Ready)
	if err == nil || !strings.Contains(err.Error(), "sdnotify: ") || !strings.Contains(err.Error(), missing) {
		t.Errorf("Notify(%q) = %v, want an sdnotify error naming the socket", missing, err)
	}
}
