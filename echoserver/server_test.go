package echoserver

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startServer serves cfg on a random loopback port until the test ends.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readHello(t *testing.T, ws *websocket.Conn) Hello {
	t.Helper()
	typ, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read greeting: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("greeting type = %d, want text", typ)
	}
	var h Hello
	if err := json.Unmarshal(msg, &h); err != nil {
		t.Fatalf("greeting %q: %v", msg, err)
	}
	return h
}

func TestGreetingCountsConnections(t *testing.T) {
	cfg := DefaultConfig("backend1")
	cfg.CloseSpread = 0 // the cleanup's shutdown need not wait
	_, addr := startServer(t, cfg)
	for i, path := range []string{"/", "/ws", "/any/path?x=1"} {
		h := readHello(t, dial(t, "ws://"+addr+path))
		want := Hello{Type: "hello", Server: "backend1", Conn: int64(i + 1)}
		if h != want {
			t.Errorf("%s: greeting = %+v, want %+v", path, h, want)
		}
	}
}

func TestNoGreeting(t *testing.T) {
	cfg := DefaultConfig("backend1")
	cfg.Greeting = false
	_, addr := startServer(t, cfg)
	ws := dial(t, "ws://"+addr+"/")
	if err := ws.WriteMessage(websocket.TextMessage, []byte("first")); err != nil {
		t.Fatal(err)
	}
	// Without a greeting the first message back is the echo.
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "first" {
		t.Fatalf("first message = %q, %v; want the echo", msg, err)
	}
}

func TestEcho(t *testing.T) {
	_, addr := startServer(t, DefaultConfig("backend1"))
	ws := dial(t, "ws://"+addr+"/ws")
	readHello(t, ws)
	tests := []struct {
		name string
		typ  int
		msg  []byte
	}{
		{name: "text", typ: websocket.TextMessage, msg: []byte("hello there")},
		{name: "binary", typ: websocket.BinaryMessage, msg: []byte{0, 1, 2, 255}},
		{name: "empty", typ: websocket.TextMessage, msg: []byte{}},
		{name: "large", typ: websocket.BinaryMessage, msg: []byte(strings.Repeat("x", 100_000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ws.WriteMessage(tt.typ, tt.msg); err != nil {
				t.Fatal(err)
			}
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.typ || string(msg) != string(tt.msg) {
				t.Errorf("echo = type %d, %d bytes; want type %d, %d bytes", typ, len(msg), tt.typ, len(tt.msg))
			}
		})
	}
	// gorilla answers pings while the echo loop reads.
	pong := make(chan string, 1)
	ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // runs the pong handler
		t.Fatal(err)
	}
	select {
	case got := <-pong:
		if got != "p1" {
			t.Errorf("pong = %q, want p1", got)
		}
	default:
		t.Error("no pong before the echo that followed the ping")
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestPlainHTTP(t *testing.T) {
	_, addr := startServer(t, DefaultConfig("backend1"))
	for _, path := range []string{"/", "/index.html", "/ws"} {
		code, body, header := get(t, "http://"+addr+path)
		if code != http.StatusOK || body != "backend1\n" || header.Get("X-Server") != "backend1" {
			t.Errorf("GET %s = %d %q X-Server=%q; want 200 %q X-Server=backend1",
				path, code, body, header.Get("X-Server"), "backend1\n")
		}
	}
}

func TestHealth(t *testing.T) {
	healthFile := filepath.Join(t.TempDir(), "healthy")
	tests := []struct {
		name       string
		toggle     bool
		healthFile string // "" = no --health-file
		fileExists bool
		wantCode   int
		wantBody   string
	}{
		{name: "default healthy", toggle: true, wantCode: 200, wantBody: "ok backend1\n"},
		{name: "toggled unhealthy", toggle: false, wantCode: 503, wantBody: "unhealthy backend1\n"},
		{name: "health file present", toggle: true, healthFile: healthFile, fileExists: true, wantCode: 200, wantBody: "ok backend1\n"},
		{name: "health file missing", toggle: true, healthFile: healthFile, wantCode: 503, wantBody: "unhealthy backend1\n"},
		{name: "toggle wins over file", toggle: false, healthFile: healthFile, fileExists: true, wantCode: 503, wantBody: "unhealthy backend1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(healthFile)
			if tt.fileExists {
				if err := os.WriteFile(healthFile, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := DefaultConfig("backend1")
			cfg.HealthFile = tt.healthFile
			srv, addr := startServer(t, cfg)
			srv.SetHealthy(tt.toggle)
			code, body, _ := get(t, "http://"+addr+"/health")
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("GET /health = %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			if got, want := srv.Healthy(), tt.wantCode == 200; got != want {
				t.Errorf("Healthy() = %v, want %v", got, want)
			}
		})
	}
}

func TestHealthFileCheckedPerRequest(t *testing.T) {
	healthFile := filepath.Join(t.TempDir(), "healthy")
	cfg := DefaultConfig("backend1")
	cfg.HealthFile = healthFile
	_, addr := startServer(t, cfg)
	for _, step := range []struct {
		name     string
		exists   bool
		wantCode int
	}{
		{name: "missing", exists: false, wantCode: 503},
		{name: "created", exists: true, wantCode: 200},
		{name: "removed", exists: false, wantCode: 503},
	} {
		if step.exists {
			if err := os.WriteFile(healthFile, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			os.Remove(healthFile)
		}
		if code, _, _ := get(t, "http://"+addr+"/health"); code != step.wantCode {
			t.Errorf("%s: GET /health = %d, want %d", step.name, code, step.wantCode)
		}
	}
}

func TestHealthUpgrade(t *testing.T) {
	srv, addr := startServer(t, DefaultConfig("backend1"))
	url := "ws://" + addr + "/health"

	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("healthy: dial /health: %v", err)
	}
	defer ws.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("healthy: status = %d, want 101", resp.StatusCode)
	}
	// The check is over once the 101 is sent: no greeting, a clean close.
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("healthy: read after 101 = %v, want close 1000", err)
	}

	srv.SetHealthy(false)
	_, resp, err = websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		t.Fatal("unhealthy: dial /health succeeded, want 503")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unhealthy: response = %v, %v; want 503", resp, err)
	}

	// Health checks are not connections: the next client is still number 1.
	srv.SetHealthy(true)
	if h := readHello(t, dial(t, "ws://"+addr+"/")); h.Conn != 1 {
		t.Errorf("first client after health checks is conn %d, want 1", h.Conn)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "default", mutate: func(*Config) {}},
		{name: "no id", mutate: func(c *Config) { c.ID = "" }, wantErr: "id is empty"},
		{name: "negative spread", mutate: func(c *Config) { c.CloseSpread = -time.Second }, wantErr: "close spread -1s is negative"},
		{name: "negative grace", mutate: func(c *Config) { c.CloseGrace = -time.Second }, wantErr: "close grace -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig("backend1")
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
