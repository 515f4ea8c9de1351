package loadgen

import (
	"fmt"
	"net"
	"net/http/cookiejar"
	"sync"

	"github.com/gorilla/websocket"
)

// writeBuffers is shared by every connection of the process: an idle
// WebSocket then holds no write buffer.
var writeBuffers sync.Pool

// client runs one client for the whole run: dial, hold until the peer closes
// or the run ends and, with Reconnect, dial again after a backoff.
func (r *runner) client(id int) {
	dialer := r.dialer(id)
	failures := 0 // consecutive failed attempts since the last connection
	for seq := 0; ; {
		c, err := r.dial(dialer, id, seq)
		switch {
		case err != nil && r.stop.Err() != nil:
			return // the run ended during the dial: not the server's fault
		case err != nil:
			r.stats.handshakeFailedWith(err)
			r.log.Debug("handshake failed", "client", id, "err", err)
			if !r.cfg.Reconnect {
				return
			}
			failures++
		default:
			r.stats.handshakeOK(seq > 0)
			seq++
			failures = 0
			if !r.hold(c) || !r.cfg.Reconnect {
				return
			}
		}
		if !r.sleep(backoff(failures)) {
			return
		}
	}
}

// dialer returns client id's dialer: its own cookie jar with Cookies, its
// source address with SourceIPs.
func (r *runner) dialer(id int) *websocket.Dialer {
	d := &websocket.Dialer{
		HandshakeTimeout: r.cfg.HandshakeTimeout,
		WriteBufferPool:  &writeBuffers,
	}
	if r.cfg.Cookies {
		// cookiejar.New fails only on a bad PublicSuffixList; there is none.
		d.Jar, _ = cookiejar.New(nil)
	}
	if n := len(r.cfg.SourceIPs); n > 0 {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: r.cfg.SourceIPs[id%n]}}
		d.NetDialContext = nd.DialContext
	}
	return d
}

// dial opens connection seq of client id.
func (r *runner) dial(d *websocket.Dialer, id, seq int) (*conn, error) {
	ws, resp, err := d.DialContext(r.stop, r.cfg.URL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return newConn(ws, fmt.Sprintf("wsload %d.%d.", id, seq)), nil
}
