package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/wsctl/wsctl/echoserver"
)

// startEcho serves an in-process echo backend on a random port.
func startEcho(t *testing.T, cfg echoserver.Config) (*echoserver.Server, string) {
	t.Helper()
	srv, err := echoserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "ws://" + ln.Addr().String() + "/ws"
}

// testConfig is a run that lasts until the test cancels it, unless the test
// sets a Duration of its own.
func testConfig(url string, conns int) Config {
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.Conns = conns
	cfg.Rate = 0
	cfg.Interval = 0
	cfg.Duration = time.Minute
	cfg.Grace = 5 * time.Second
	return cfg
}

// runAsync starts Run and returns a function that cancels it and returns
// its result.
func runAsync(t *testing.T, cfg Config) func() Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() {
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- res
	}()
	t.Cleanup(cancel)
	return func() Result {
		cancel()
		select {
		case res := <-done:
			return res
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return 10s after its context was cancelled")
			return Result{}
		}
	}
}

// waitFor polls cond until it holds: the tests wait for states, not delays.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunCountsConnectionsAndEchoes(t *testing.T) {
	_, url := startEcho(t, echoserver.DefaultConfig("backend1"))
	cfg := testConfig(url, 5)
	cfg.Rate = 100
	cfg.Duration = 600 * time.Millisecond
	cfg.Interval = 50 * time.Millisecond

	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := map[string]int{"backend1": 5}
	if res.Connected != 5 || res.HandshakeFailed != 0 || res.Dropped != 0 || res.Reconnects != 0 {
		t.Errorf("connected %d, failed %d, dropped %d, reconnects %d; want 5, 0, 0, 0",
			res.Connected, res.HandshakeFailed, res.Dropped, res.Reconnects)
	}
	if diff := cmp.Diff(want, res.PerServer); diff != "" {
		t.Errorf("per_server (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, res.Landings); diff != "" {
		t.Errorf("landings (-want +got):\n%s", diff)
	}
	if res.Sent == 0 || res.Echoed != res.Sent || res.LostEchoes != 0 {
		t.Errorf("sent %d, echoed %d, lost %d; want every echo back", res.Sent, res.Echoed, res.LostEchoes)
	}
	if res.EchoP50Ms <= 0 || res.EchoP99Ms < res.EchoP50Ms {
		t.Errorf("echo p50 %vms p99 %vms, want 0 < p50 <= p99", res.EchoP50Ms, res.EchoP99Ms)
	}
	if res.Interrupted {
		t.Error("interrupted, want a run that ended on its own")
	}
	connects, live := 0, 0
	for _, b := range res.Timeline {
		connects += b.Connects
		live += b.Connects - b.Ends
	}
	if connects != 5 || live != 0 {
		t.Errorf("timeline: %d connects, %d live at the end; want 5, 0", connects, live)
	}
}

func TestRunCountsShutdownDropsByCode(t *testing.T) {
	cfg := echoserver.DefaultConfig("backend1")
	cfg.CloseSpread = 100 * time.Millisecond
	srv, url := startEcho(t, cfg)
	finish := runAsync(t, testConfig(url, 6))
	waitFor(t, "6 connections", func() bool { return srv.Conns() == 6 })

	// Shutdown returns once every client answered its 1001, and a client
	// counts the drop before it answers.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	res := finish()
	if diff := cmp.Diff(map[string]int{"1001": 6}, res.DropsByCode); diff != "" {
		t.Errorf("drops_by_code (-want +got):\n%s", diff)
	}
	if res.Dropped != 6 || res.Connected != 6 || res.Reconnects != 0 {
		t.Errorf("dropped %d, connected %d, reconnects %d; want 6, 6, 0", res.Dropped, res.Connected, res.Reconnects)
	}
	if diff := cmp.Diff(map[string]int{"backend1": 6}, res.Landings); diff != "" {
		t.Errorf("landings (-want +got):\n%s", diff)
	}
}

// handshakeLog records the handshakes a test server saw.
type handshakeLog struct {
	mu      sync.Mutex
	cookies []string // Cookie header of each handshake, in order
	remotes []string // remote IP of each handshake
}

func (l *handshakeLog) add(r *http.Request) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cookies = append(l.cookies, r.Header.Get("Cookie"))
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	l.remotes = append(l.remotes, host)
	return len(l.cookies)
}

func (l *handshakeLog) snapshot() (cookies, remotes []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.cookies...), append([]string(nil), l.remotes...)
}

// startWS serves handle for every WebSocket and logs the handshakes. header
// gives the extra headers of the 101; handle gets the handshake's number
// (1, 2, …) and request, and owns the connection.
func startWS(t *testing.T, header func(n int, r *http.Request) http.Header, handle func(n int, r *http.Request, ws *websocket.Conn)) (*handshakeLog, string) {
	t.Helper()
	log := &handshakeLog{}
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := log.add(r)
		var h http.Header
		if header != nil {
			h = header(n, r)
		}
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, h)
		if err != nil {
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","server":"s1","conn":1}`))
		handle(n, r, ws)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		handlers.Wait()
	})
	return log, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// drain reads ws until it ends.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

func TestRunCountsAbruptCloses(t *testing.T) {
	// The first three connections are cut without a close frame; later
	// ones are kept. A client dials again only after counting its drop, so
	// six handshakes from three clients mean three drops counted.
	log, url := startWS(t, nil, func(n int, _ *http.Request, ws *websocket.Conn) {
		if n <= 3 {
			ws.NetConn().Close()
			return
		}
		drain(ws)
	})
	cfg := testConfig(url, 3)
	cfg.Reconnect = true
	finish := runAsync(t, cfg)
	waitFor(t, "6 handshakes", func() bool { c, _ := log.snapshot(); return len(c) >= 6 })
	res := finish()

	if diff := cmp.Diff(map[string]int{"abrupt": 3}, res.DropsByCode); diff != "" {
		t.Errorf("drops_by_code (-want +got):\n%s", diff)
	}
	if res.Dropped != 3 || res.Reconnects != 3 || res.Connected != 6 {
		t.Errorf("dropped %d, reconnects %d, connected %d; want 3, 3, 6", res.Dropped, res.Reconnects, res.Connected)
	}
	if diff := cmp.Diff(map[string]int{"s1": 6}, res.Landings); diff != "" {
		t.Errorf("landings (-want +got):\n%s", diff)
	}
}

func TestRunReconnectPresentsStickyCookie(t *testing.T) {
	// The server issues SRV=<handshake number> to a handshake without a
	// cookie and sends it away with 1001; a handshake with a cookie stays.
	setCookie := func(n int, r *http.Request) http.Header {
		if r.Header.Get("Cookie") != "" {
			return nil
		}
		return http.Header{"Set-Cookie": {"SRV=" + strconv.Itoa(n) + "; Path=/"}}
	}
	handle := func(n int, r *http.Request, ws *websocket.Conn) {
		if r.Header.Get("Cookie") == "" {
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
			ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		drain(ws)
	}
	tests := []struct {
		name    string
		cookies bool
	}{
		{name: "with cookies", cookies: true},
		{name: "without cookies", cookies: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, url := startWS(t, setCookie, handle)
			cfg := testConfig(url, 2)
			cfg.Reconnect = true
			cfg.Cookies = tt.cookies
			finish := runAsync(t, cfg)
			if tt.cookies {
				// Each client is then holding its second connection, so
				// both drops are counted.
				waitFor(t, "both clients back with a cookie", func() bool { return len(presented(log)) == 2 })
			} else {
				waitFor(t, "6 handshakes", func() bool { c, _ := log.snapshot(); return len(c) >= 6 })
			}
			res := finish()

			got := presented(log)
			if !tt.cookies {
				if len(got) != 0 {
					t.Errorf("handshakes presented cookies %q without Cookies", got)
				}
				return
			}
			// Each client presents the cookie its own first handshake got:
			// two different cookies, both issued.
			cookies, _ := log.snapshot()
			issued := map[string]bool{}
			for i, c := range cookies {
				if c == "" {
					issued["SRV="+strconv.Itoa(i+1)] = true
				}
			}
			if len(got) != 2 || got[0] == got[1] || !issued[got[0]] || !issued[got[1]] {
				t.Errorf("cookies presented %q, issued %v; want each client's own", got, issued)
			}
			if diff := cmp.Diff(map[string]int{"1001": 2}, res.DropsByCode); diff != "" {
				t.Errorf("drops_by_code (-want +got):\n%s", diff)
			}
			if res.Reconnects != 2 || res.Connected != 4 {
				t.Errorf("reconnects %d, connected %d; want 2, 4", res.Reconnects, res.Connected)
			}
		})
	}
}

// presented returns the Cookie headers the handshakes carried, in order.
func presented(log *handshakeLog) []string {
	cookies, _ := log.snapshot()
	var out []string
	for _, c := range cookies {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func TestRunSpreadsSourceIPs(t *testing.T) {
	log, url := startWS(t, nil, func(_ int, _ *http.Request, ws *websocket.Conn) { drain(ws) })
	cfg := testConfig(url, 4)
	cfg.SourceIPs = []net.IP{net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.3")}
	finish := runAsync(t, cfg)
	waitFor(t, "4 handshakes", func() bool { c, _ := log.snapshot(); return len(c) == 4 })
	res := finish()
	if res.Connected != 4 {
		t.Fatalf("connected %d, want 4 (first error: %s)", res.Connected, res.FirstError)
	}
	_, remotes := log.snapshot()
	count := map[string]int{}
	for _, ip := range remotes {
		count[ip]++
	}
	if diff := cmp.Diff(map[string]int{"127.0.0.2": 2, "127.0.0.3": 2}, count); diff != "" {
		t.Errorf("source addresses (-want +got):\n%s", diff)
	}
}

func TestRunReportsFailedHandshakes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	// No client reconnects, so the run ends as soon as they all failed.
	res, err := Run(context.Background(), testConfig("ws://"+addr+"/", 3))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Connected != 0 || res.HandshakeFailed != 3 || !strings.Contains(res.FirstError, "refused") {
		t.Errorf("connected %d, failed %d, first error %q; want 0, 3, connection refused",
			res.Connected, res.HandshakeFailed, res.FirstError)
	}
	if len(res.PerServer) != 0 || len(res.Landings) != 0 {
		t.Errorf("per_server %v, landings %v; want both empty", res.PerServer, res.Landings)
	}
}
