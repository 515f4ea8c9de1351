// Package echoserver is a WebSocket echo backend for demos, tests and
// benchmarks of WebSocket load balancing.
//
// Every WebSocket upgrade, on any path but /health, is accepted, greeted with
// {"type":"hello","server":ID,"conn":N} (N counts the connections of this
// process) and then has each message echoed back verbatim. /health answers
// 200 "ok ID" while healthy and 503 otherwise; a WebSocket upgrade to /health
// gets 101 only while healthy, so a load balancer can health-check with a
// real handshake. Any other plain HTTP request gets 200 "ID\n" with an
// X-Server header, so the backend also serves as a plain HTTP default.
//
// Shutdown closes the listener, turns /health to 503 and then closes every
// open WebSocket with 1001 (Going Away), spread over Config.CloseSpread.
package echoserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// HealthPath is the path of the health endpoint.
const HealthPath = "/health"

// Server is one echo backend. It is an http.Handler; Serve and Shutdown run
// it on a listener. Create it with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	http     *http.Server
	seq      atomic.Int64 // connection counter for the greeting
	up       atomic.Bool  // the operator's health toggle

	mu       sync.Mutex
	draining bool
	conns    map[*wsConn]struct{}
	handlers sync.WaitGroup // one per tracked WebSocket
}

// New returns a healthy Server for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg,
		log: log,
		upgrader: websocket.Upgrader{
			// A test backend sits behind a proxy and serves any page: the
			// browser's origin policy is not its business.
			CheckOrigin: func(*http.Request) bool { return true },
			// Idle connections dominate a benchmark: share write buffers
			// instead of holding one per connection.
			WriteBufferPool: new(sync.Pool),
		},
		conns: make(map[*wsConn]struct{}),
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.up.Store(true)
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown and the listener's error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("echoserver: serve: %w", err)
}

// ServeHTTP routes /health, WebSocket upgrades and plain requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Server", s.cfg.ID)
	switch {
	case r.URL.Path == HealthPath:
		s.serveHealth(w, r)
	case websocket.IsWebSocketUpgrade(r):
		s.serveWebSocket(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s\n", s.cfg.ID)
	}
}

// SetHealthy sets the operator's health toggle. The server is healthy only
// while the toggle is on, the health file (if any) exists and it is not
// shutting down.
func (s *Server) SetHealthy(up bool) {
	if s.up.Swap(up) != up {
		s.log.Info("health toggled", "healthy", up)
	}
}

// Healthy reports whether /health answers 200 right now.
func (s *Server) Healthy() bool { return s.healthState() == "ok" }

// Conns returns the number of open WebSockets.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting connections, turns /health to 503 and closes every
// open WebSocket with 1001, spread evenly over Config.CloseSpread. It returns
// once every WebSocket is closed. When ctx ends first, the remaining
// connections are cut without a close frame and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Oldest first: the close order is then the arrival order.
	slices.SortFunc(conns, func(a, b *wsConn) int { return cmp.Compare(a.id, b.id) })

	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Shutdown(ctx) }()

	s.log.Info("shutting down", "conns", len(conns), "spread", s.cfg.CloseSpread)
	start := time.Now()
	err := s.closeSpread(ctx, conns)
	if err == nil {
		err = s.waitHandlers(ctx)
	}
	if err != nil {
		s.cutAll()
		err = fmt.Errorf("echoserver: shutdown: %w", err)
	}
	if herr := <-httpDone; herr != nil && err == nil {
		err = fmt.Errorf("echoserver: shutdown: %w", herr)
	}
	s.log.Info("shut down", "closed", len(conns), "took", time.Since(start).Round(time.Millisecond))
	return err
}

// closeSpread sends 1001 to conns at evenly spaced instants over the spread,
// scheduled from the start so that slow closes don't stretch it.
func (s *Server) closeSpread(ctx context.Context, conns []*wsConn) error {
	if len(conns) == 0 {
		return nil
	}
	gap := s.cfg.CloseSpread / time.Duration(len(conns))
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, c := range conns {
		if wait := time.Until(start.Add(time.Duration(i) * gap)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		c.goAway(s.cfg.CloseGrace)
	}
	return nil
}

// waitHandlers waits until every WebSocket handler has returned.
func (s *Server) waitHandlers(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cutAll closes every connection without a goodbye and waits for the
// handlers, which return as soon as their connection is gone.
func (s *Server) cutAll() {
	s.mu.Lock()
	for c := range s.conns {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.http.Close()
	s.handlers.Wait()
}
