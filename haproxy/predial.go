package haproxy

import (
	"context"
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
	// next delivers the connection being dialled, nil when its dial
	// failed; next is nil when there is none.
	next chan net.Conn
}

// Predial starts dialling the socket for the next call's session, so that
// the dial, and HAProxy's accept, overlap with what the caller does before
// that call: the agent builds its model meanwhile, in the path of every
// registration. The next call takes the connection (waiting for the dial
// if it is still under way) instead of dialling; one not taken within
// predialFor is closed. A dial that fails leaves the next call to dial, and
// to report the error. A second Predial before the first is taken does
// nothing.
func (c *Client) Predial() {
	p := c.predials
	if p == nil {
		return // a Client Dial did not make
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next != nil {
		return
	}
	next := make(chan net.Conn, 1)
	p.next = next
	go func() {
		d := net.Dialer{Timeout: c.timeout}
		conn, err := d.Dial("unix", c.path)
		if err != nil {
			p.mu.Lock()
			if p.next == next {
				p.next = nil // the next call dials, and says why it fails
			}
			p.mu.Unlock()
			next <- nil
			return
		}
		next <- conn
		time.AfterFunc(predialFor, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.next != next {
				return // taken
			}
			p.next = nil
			if conn := <-next; conn != nil {
				conn.Close()
			}
		})
	}()
}

// take returns the predialled connection, nil when there is none or its
// dial failed.
func (p *predials) take(ctx context.Context) net.Conn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	next := p.next
	p.next = nil
	p.mu.Unlock()
	if next == nil {
		return nil
	}
	select {
	case conn := <-next:
		return conn
	case <-ctx.Done():
		go func() {
			if conn := <-next; conn != nil {
				conn.Close()
			}
		}()
		return nil
	}
}
