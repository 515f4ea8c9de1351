package echoserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every write, so a client that stopped reading can't
// hold a handler forever.
const writeTimeout = 10 * time.Second

// Hello is the greeting sent on every new WebSocket.
type Hello struct {
	Type   string `json:"type"`   // always "hello"
	Server string `json:"server"` // Config.ID
	Conn   int64  `json:"conn"`   // 1 for the process's first WebSocket, then 2, …
	// ForwardedFor and ForwardedProto are the X-Forwarded-For and
	// X-Forwarded-Proto of the handshake, as the proxies in front left
	// them (omitted when absent), so a test sees the client's address and
	// scheme arrive.
	ForwardedFor   string `json:"forwarded_for,omitempty"`
	ForwardedProto string `json:"forwarded_proto,omitempty"`
}

// wsConn is one open WebSocket.
type wsConn struct {
	ws   *websocket.Conn
	id   int64
	done chan struct{} // closed when the handler returns
	// forwardedFor and forwardedProto are the handshake's headers
	// (every X-Forwarded-For line, joined as one list).
	forwardedFor, forwardedProto string
}

// serveWebSocket upgrades r and echoes until the client or Shutdown closes.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.accepting() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, s.responseHeader())
	if err != nil {
		// Upgrade has already answered the client with the reason.
		s.log.Debug("upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := &wsConn{ws: ws, id: s.seq.Add(1), done: make(chan struct{}),
		forwardedFor: strings.Join(r.Header.Values("X-Forwarded-For"), ", "), forwardedProto: r.Header.Get("X-Forwarded-Proto")}
	if !s.track(c) {
		// Shutdown began during the handshake: the client gets the same
		// goodbye as everyone else, without waiting for its answer since
		// nobody reads this connection.
		c.goAway(0)
		return
	}
	defer s.untrack(c)
	ws.SetReadLimit(s.cfg.ReadLimit)

	log := s.log.With("conn", c.id, "remote", r.RemoteAddr)
	log.Debug("websocket open", "path", r.URL.Path)
	err = c.serve(s.cfg)
	log.Debug("websocket closed", "err", err)
}

// accepting reports whether new WebSockets are still welcome.
func (s *Server) accepting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.draining
}

// track registers c unless Shutdown has begun. The handler count grows under
// the same lock that Shutdown takes to start draining, so Shutdown never
// misses a connection nor waits for one it will not close.
func (s *Server) track(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	return true
}

func (s *Server) untrack(c *wsConn) {
	c.ws.Close()
	close(c.done)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.handlers.Done()
}

func (s *Server) responseHeader() http.Header {
	return http.Header{"X-Server": {s.cfg.ID}}
}

// serve greets the client and echoes every message until the connection
// ends. It returns the error that ended it.
func (c *wsConn) serve(cfg Config) error {
	if cfg.Greeting {
		hello, err := json.Marshal(Hello{Type: "hello", Server: cfg.ID, Conn: c.id, ForwardedFor: c.forwardedFor, ForwardedProto: c.forwardedProto})
		if err != nil {
			return err
		}
		if err := c.write(websocket.TextMessage, hello); err != nil {
			return err
		}
	}
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		if err := c.write(typ, msg); err != nil {
			return err
		}
	}
}

func (c *wsConn) write(typ int, msg []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(typ, msg)
}

// goAway sends a 1001 close frame and gives the client grace to answer it
// before the connection is cut. The handler's read loop sees the answer and
// returns, which ends the wait early.
func (c *wsConn) goAway(grace time.Duration) {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout))
	if err != nil || grace == 0 {
		c.ws.Close()
		return
	}
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			c.ws.Close()
		}
	}()
}
