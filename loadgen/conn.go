package loadgen

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every write: a peer that stopped reading must not
// hold a client forever.
const writeTimeout = 5 * time.Second

// conn is one open WebSocket of a client.
type conn struct {
	ws     *websocket.Conn
	prefix string // makes every payload of the run unique
	next   int    // number of the next payload; only the holder touches it

	// closing is set before this side sends its close frame.
	closing atomic.Bool
	// peerCode is the code of a close frame the peer sent before this side
	// began closing: that makes the end a drop.
	peerCode atomic.Int32

	mu      sync.Mutex
	server  string               // from the greeting; "" until it arrives
	pending map[string]time.Time // payloads sent and not yet echoed
	drained chan struct{}        // closed once pending empties, when someone waits
}

func newConn(ws *websocket.Conn, prefix string) *conn {
	c := &conn{ws: ws, prefix: prefix, pending: make(map[string]time.Time)}
	ws.SetCloseHandler(func(code int, _ string) error {
		// Record the peer's close before answering it: whoever waits for
		// the answer (a server's Shutdown, a test) then knows this side
		// has already counted the drop.
		if !c.closing.Load() {
			c.peerCode.Store(int32(code))
		}
		msg := websocket.FormatCloseMessage(code, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout))
		return nil
	})
	return c
}

// hello is the greeting cmd/wsecho sends first.
type hello struct {
	Type   string `json:"type"`
	Server string `json:"server"`
}

// hold runs connection c until the peer closes it or the run ends, and
// reports whether the peer closed it (a drop).
func (r *runner) hold(c *conn) bool {
	readDone := make(chan error, 1)
	go func() { readDone <- c.read(r.stats) }()

	var tick <-chan time.Time
	if r.cfg.Interval > 0 {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-readDone:
			return r.ended(c, err)
		case <-tick:
			if !c.send(r.stats) {
				// The connection is broken; the reader will say how.
				tick = nil
			}
		case <-r.ending:
			return r.finish(c, readDone)
		}
	}
}

// read handles incoming messages until the connection ends: echoes are
// matched to their payload, the greeting names the server.
func (c *conn) read(stats *collector) error {
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now()
		c.mu.Lock()
		sentAt, isEcho := c.pending[string(msg)]
		if isEcho {
			delete(c.pending, string(msg))
			if len(c.pending) == 0 && c.drained != nil {
				close(c.drained)
				c.drained = nil
			}
		}
		c.mu.Unlock()
		if isEcho {
			stats.echoedOne(now.Sub(sentAt))
			continue
		}
		var h hello
		if bytes.HasPrefix(msg, []byte("{")) && json.Unmarshal(msg, &h) == nil && h.Type == "hello" && h.Server != "" {
			c.mu.Lock()
			first := c.server == ""
			if first {
				c.server = h.Server
			}
			c.mu.Unlock()
			if first {
				stats.landed(h.Server)
			}
		}
	}
}

// send writes the next unique payload and reports whether the write went
// through.
func (c *conn) send(stats *collector) bool {
	payload := c.prefix + strconv.Itoa(c.next)
	c.next++
	c.mu.Lock()
	c.pending[payload] = time.Now()
	c.mu.Unlock()
	err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err == nil {
		err = c.ws.WriteMessage(websocket.TextMessage, []byte(payload))
	}
	if err != nil {
		c.mu.Lock()
		delete(c.pending, payload)
		c.mu.Unlock()
		return false
	}
	stats.sentOne()
	return true
}

// finish ends c at the end of the run: it waits for the in-flight echoes
// until the grace is over, then closes with 1000 and waits for the answer.
func (r *runner) finish(c *conn, readDone <-chan error) bool {
	c.mu.Lock()
	if len(c.pending) > 0 {
		c.drained = make(chan struct{})
	}
	drained := c.drained
	c.mu.Unlock()
	if drained != nil {
		select {
		case <-drained:
		case err := <-readDone:
			return r.ended(c, err)
		case <-r.grace.Done():
		}
	}

	c.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
		c.ws.Close()
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case err := <-readDone:
		return r.ended(c, err)
	case <-t.C:
		c.ws.Close()
		return r.ended(c, <-readDone)
	}
}

// ended closes c after its reader returned err, records the end and
// reports whether it was a drop.
func (r *runner) ended(c *conn, err error) bool {
	c.ws.Close()
	drop := ""
	switch code := c.peerCode.Load(); {
	case code != 0:
		drop = strconv.Itoa(int(code))
	case !c.closing.Load():
		// No close frame came first: EOF, reset, or a protocol error.
		drop = "abrupt"
	}
	c.mu.Lock()
	server, lost := c.server, len(c.pending)
	c.pending = nil
	c.mu.Unlock()
	r.stats.ended(server, drop, lost)
	if drop != "" {
		r.log.Debug("connection dropped", "server", server, "code", drop, "err", err)
	}
	return drop != ""
}
