package haproxytest

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// CookieName is the sticky cookie Render configures.
const CookieName = "SERVERID"

// Event is one client landing on a server (Up) or losing it.
type Event struct {
	Client int
	Server string
	Up     bool
	// Cookie is the sticky cookie the client sent when it connected
	// (empty on its first connection).
	Cookie string
	At     time.Time
}

// Clients is a set of WebSocket clients that keep their cookies, like
// browsers do, and optionally reconnect at once when they lose their
// connection: the worst case for a drain that must not send them back.
type Clients struct {
	t         testing.TB
	url       string
	reconnect bool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu     sync.Mutex
	events []Event
	conns  map[int]*websocket.Conn
	where  map[int]string
}

// StartClients connects n clients to wsURL one after the other (so leastconn
// spreads them evenly) and waits for each greeting. With reconnect, a client
// that loses its connection dials again at once with its cookie jar. The
// clients are closed when the test ends.
func StartClients(t testing.TB, wsURL string, n int, reconnect bool) *Clients {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Clients{t: t, url: wsURL, reconnect: reconnect, ctx: ctx, cancel: cancel,
		conns: map[int]*websocket.Conn{}, where: map[int]string{}}
	t.Cleanup(f.Close)
	for i := range n {
		jar, _ := cookiejar.New(nil)
		d := &websocket.Dialer{Jar: jar, HandshakeTimeout: 5 * time.Second}
		ws, err := f.dial(i, d)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		f.wg.Add(1)
		go f.run(i, d, ws)
	}
	return f
}

// Close disconnects every client and waits for their goroutines.
func (f *Clients) Close() {
	f.cancel()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// dial connects client i and records where it landed.
func (f *Clients) dial(i int, d *websocket.Dialer) (*websocket.Conn, error) {
	cookie := cookieValue(d.Jar, f.url)
	ws, resp, err := d.DialContext(f.ctx, f.url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	var hello struct {
		Type, Server string
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		ws.Close()
		return nil, errors.Join(errors.New("no greeting"), err)
	}
	ws.SetReadDeadline(time.Time{})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		ws.Close()
		return nil, f.ctx.Err()
	}
	f.conns[i] = ws
	f.where[i] = hello.Server
	f.events = append(f.events, Event{Client: i, Server: hello.Server, Up: true, Cookie: cookie, At: time.Now()})
	return ws, nil
}

// run reads until the connection ends, records it, and reconnects.
func (f *Clients) run(i int, d *websocket.Dialer, ws *websocket.Conn) {
	defer f.wg.Done()
	for {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				break
			}
		}
		f.mu.Lock()
		f.events = append(f.events, Event{Client: i, Server: f.where[i], At: time.Now()})
		delete(f.conns, i)
		delete(f.where, i)
		f.mu.Unlock()
		if !f.reconnect {
			return
		}
		for {
			if f.ctx.Err() != nil {
				return
			}
			var err error
			if ws, err = f.dial(i, d); err == nil {
				break
			}
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Connected returns how many clients are connected to each server now.
func (f *Clients) Connected() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, s := range f.where {
		out[s]++
	}
	return out
}

// Events returns everything that happened so far, in order.
func (f *Clients) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

// Since returns the events after t, Up or down as asked.
func (f *Clients) Since(t time.Time, up bool) []Event {
	var out []Event
	for _, e := range f.Events() {
		if e.Up == up && e.At.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor polls cond until it holds or timeout passes, and reports which.
func (f *Clients) WaitFor(timeout time.Duration, cond func(connected map[string]int) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond(f.Connected()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitEvents waits until at least n events of the kind asked (up: a
// connect) happened after t, and reports whether they did within timeout.
func (f *Clients) WaitEvents(t time.Time, up bool, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for len(f.Since(t, up)) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// cookieValue returns the sticky cookie the jar holds for wsURL.
func cookieValue(jar http.CookieJar, wsURL string) string {
	u, err := url.Parse(strings.Replace(wsURL, "ws://", "http://", 1))
	if err != nil || jar == nil {
		return ""
	}
	for _, c := range jar.Cookies(u) {
		if c.Name == CookieName {
			return c.Value
		}
	}
	return ""
}

// PeakIn returns the largest number of times within any window (times in
// order): the close or reconnect peak tests bound.
func PeakIn(times []time.Time, window time.Duration) int {
	peak := 0
	for i, start := range times {
		n := 0
		for _, t := range times[i:] {
			if d := t.Sub(start); d >= 0 && d < window {
				n++
			}
		}
		peak = max(peak, n)
	}
	return peak
}
