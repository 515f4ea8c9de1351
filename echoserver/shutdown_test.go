package echoserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// closeSeen is how one client saw its connection end.
type closeSeen struct {
	code int // websocket close code; 1006 when cut without a close frame
	at   time.Time
}

// watchClose reads ws until it ends and reports how.
func watchClose(ws *websocket.Conn, out chan<- closeSeen) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			seen := closeSeen{code: websocket.CloseAbnormalClosure, at: time.Now()}
			if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
				seen.code = ce.Code
			}
			out <- seen
			return
		}
	}
}

// openClients dials n clients, waits for their greetings and watches them.
func openClients(t *testing.T, srv *Server, addr string, n int) <-chan closeSeen {
	t.Helper()
	seen := make(chan closeSeen, n)
	for range n {
		ws := dial(t, "ws://"+addr+"/ws")
		readHello(t, ws)
		go watchClose(ws, seen)
	}
	if got := srv.Conns(); got != n {
		t.Fatalf("Conns() = %d after %d greetings, want %d", got, n, n)
	}
	return seen
}

func TestShutdownClosesWith1001Spread(t *testing.T) {
	const clients = 10
	cfg := DefaultConfig("backend1")
	cfg.CloseSpread = 500 * time.Millisecond
	srv, addr := startServer(t, cfg)
	seen := openClients(t, srv, addr, clients)

	start := time.Now()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)

	var at []time.Time
	for range clients {
		s := <-seen
		if s.code != websocket.CloseGoingAway {
			t.Errorf("client saw close %d, want 1001", s.code)
		}
		at = append(at, s.at)
	}
	// Ten closes over 500ms land about 450ms apart first to last. Only the
	// order of magnitude is checked: all-at-once would be ~0, and a stuck
	// close would hit the 1s grace.
	first, last := slices.MinFunc(at, time.Time.Compare), slices.MaxFunc(at, time.Time.Compare)
	if spread := last.Sub(first); spread < 150*time.Millisecond {
		t.Errorf("closes spread over %v, want roughly 450ms", spread)
	}
	if took > 5*time.Second {
		t.Errorf("Shutdown took %v, want about the 500ms spread", took)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("Conns() = %d after Shutdown, want 0", n)
	}

	// Draining: health fails and new WebSockets are turned away.
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "draining backend1\n" {
		t.Errorf("GET /health while draining = %d %q, want 503 %q", rec.Code, rec.Body, "draining backend1\n")
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil); err == nil {
		t.Error("dial after Shutdown succeeded, want the listener closed")
	}
}

func TestShutdownWithoutSpreadClosesAtOnce(t *testing.T) {
	cfg := DefaultConfig("backend1")
	cfg.CloseSpread = 0
	srv, addr := startServer(t, cfg)
	seen := openClients(t, srv, addr, 5)
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 5 {
		if s := <-seen; s.code != websocket.CloseGoingAway {
			t.Errorf("client saw close %d, want 1001", s.code)
		}
	}
}

func TestShutdownCutsTheRestWhenContextEnds(t *testing.T) {
	cfg := DefaultConfig("backend1")
	cfg.CloseSpread = time.Minute // only the first close is due before ctx ends
	srv, addr := startServer(t, cfg)
	seen := openClients(t, srv, addr, 4)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	var codes []int
	for range 4 {
		codes = append(codes, (<-seen).code)
	}
	slices.Sort(codes)
	want := []int{websocket.CloseGoingAway, websocket.CloseAbnormalClosure, websocket.CloseAbnormalClosure, websocket.CloseAbnormalClosure}
	if !slices.Equal(codes, want) {
		t.Errorf("close codes = %v, want %v (one goodbye, three cut)", codes, want)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("Conns() = %d after Shutdown, want 0", n)
	}
}
