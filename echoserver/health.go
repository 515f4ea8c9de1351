package echoserver

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

// serveHealth answers a plain health check with 200 or 503, and a WebSocket
// health check with 101 (then closes at once) or 503. HAProxy can thus check
// either the HTTP endpoint or a real handshake.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	state := s.healthState()
	if state != "ok" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "%s %s\n", state, s.cfg.ID)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "ok %s\n", s.cfg.ID)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, s.responseHeader())
	if err != nil {
		s.log.Debug("health upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The 101 was the answer; a checker that waits for more gets a clean
	// close instead of a hang.
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "healthy")
	_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	ws.Close()
}

// healthState is "draining" once Shutdown has begun, "unhealthy" while the
// toggle is off or the health file is missing, and "ok" otherwise.
func (s *Server) healthState() string {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		return "draining"
	}
	if !s.up.Load() {
		return "unhealthy"
	}
	if s.cfg.HealthFile != "" {
		// Checked on every request so a test or an operator can flip it
		// with touch and rm.
		if _, err := os.Stat(s.cfg.HealthFile); err != nil {
			return "unhealthy"
		}
	}
	return "ok"
}
