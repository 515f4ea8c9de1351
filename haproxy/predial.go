package haproxy

import (
	"net"
	"sync"
	"time"
)

// predialFor is how long a predialled connection waits to be taken before
// it is closed: a connection stays with the worker that accepted it, and a
// reload may since have started another.
const predialFor = 100 * time.Millisecond

// predials holds the connection Predial dialled until a session takes it.
// It is shared by a Client and the copies Session lends.
type predials struct {
	mu sync.Mutex
	// conn is the connection dialled and not yet taken, nil when there
	// is none; expire closes it after predialFor.
	conn   net.Conn
	expire *time.Timer
}

// Predial dials the socket for the next call's session, so that HAProxy's
// accept overlaps with what the caller does before that call: the agent
// builds its model meanwhile, in the path of every registration. The
// next call takes the connection instead of dialling; one not taken
// within predialFor is closed. A dial that fails leaves the next call to
// dial, and to report the error. A Predial while one is waiting to be
// taken does nothing.
//
// The dial is made here, not in a goroutine: a connect(2) to a unix
// socket returns once the kernel queued the connection, tens of
// microseconds, while a goroutine's dial waited on a loaded machine for
// a thread to run it, up to a millisecond of the path it was to shorten.
func (c *Client) Predial() {
	p := c.predials
	if p == nil {
		return // a Client Dial did not make
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		return
	}
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.Dial("unix", c.path)
	if err != nil {
		return // the next call dials, and says why it fails
	}
	p.conn = conn
	p.expire = time.AfterFunc(predialFor, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.conn == conn {
			p.conn = nil
			conn.Close()
		}
	})
}

// take returns the predialled connection, nil when there is none.
func (p *predials) take() net.Conn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	conn := p.conn
	if conn != nil {
		p.conn = nil
		p.expire.Stop()
	}
	return conn
}
