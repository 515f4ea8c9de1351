package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
)

// get fetches url from the local address from ("" for any), with basic
// auth when user is set, and returns the status and body.
func get(t *testing.T, url, from, user, password string) (int, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

var currentSessions = regexp.MustCompile(`(?m)^haproxy_server_current_sessions\{proxy="([^"]+)",server="([^"]+)"\} (\S+)$`)

// scrapeSessions reads haproxy_server_current_sessions per "backend/server"
// from HAProxy's Prometheus exporter.
func scrapeSessions(t *testing.T, url, user, password string) map[string]int64 {
	t.Helper()
	code, body := get(t, url, "", user, password)
	if code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %.200s", url, code, body)
	}
	got := map[string]int64{}
	for _, m := range currentSessions.FindAllStringSubmatch(body, -1) {
		n, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%s: %q is not a number", m[0], m[3])
		}
		got[m[1]+"/"+m[2]] = int64(n)
	}
	return got
}

// TestStatsHAProxy: with WebSockets held, HAProxy's Prometheus exporter
// reports for every server of the model the sessions the admin socket
// counts; the stats page and the exporter ask for the spec's password,
// and a client outside stats.allow gets 403.
func TestStatsHAProxy(t *testing.T) {
	auth := filepath.Join(t.TempDir(), "stats.auth")
	if err := os.WriteFile(auth, []byte("ops:pa55:w0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := lbtest.StartBasic(t, model.TargetHAProxy, "stats:\n", "stats:\n  auth: "+auth+"\n  allow: [127.0.0.1]\n")
	const clients = 30
	connect(t, st.URL("/ws"), clients)
	rt, err := haproxy.Dial(context.Background(), st.Admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	metrics := "http://" + st.Stats + "/metrics"

	var scraped map[string]int64
	var admin []haproxy.ServerStatus
	// Both views are read one after the other: retry until they agree
	// (nothing connects or leaves meanwhile, so they do at once).
	lbtest.WaitFor(t, 10*time.Second, "the exporter and the admin socket to agree", func() bool {
		scraped = scrapeSessions(t, metrics, "ops", "pa55:w0rd")
		if admin, err = rt.Servers(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, s := range admin {
			if n, ok := scraped[s.Backend+"/"+s.Server]; !ok || n != s.Scur {
				return false
			}
			total += s.Scur
		}
		return total == clients
	})
	for _, b := range st.Model.Backends {
		for _, s := range b.Servers {
			if _, ok := scraped[b.Name+"/"+s.Name]; !ok {
				t.Errorf("the exporter has no haproxy_server_current_sessions for %s/%s: %v", b.Name, s.Name, scraped)
			}
		}
	}
	t.Logf("sessions per server (exporter = admin socket): %v", scraped)

	page := "http://" + st.Stats + "/"
	if code, body := get(t, page, "", "ops", "pa55:w0rd"); code != http.StatusOK || !strings.Contains(body, "ws_cluster") {
		t.Errorf("stats page: HTTP %d, want 200 listing ws_cluster: %.200s", code, body)
	}
	for _, url := range []string{page, metrics} {
		if code, _ := get(t, url, "", "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a password: HTTP %d, want 401", url, code)
		}
		if code, _ := get(t, url, "", "ops", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: HTTP %d, want 401", url, code)
		}
		if code, _ := get(t, url, "127.0.0.2", "ops", "pa55:w0rd"); code != http.StatusForbidden {
			t.Errorf("GET %s from 127.0.0.2, outside stats.allow: HTTP %d, want 403", url, code)
		}
	}
}

var activeConnections = regexp.MustCompile(`(?m)^Active connections: (\d+)`)

// TestStatsNginx: nginx's /stub_status counts the WebSockets held (and
// the request asking), and refuses a client outside stats.allow.
func TestStatsNginx(t *testing.T) {
	st := lbtest.StartBasic(t, model.TargetNginx, "stats:\n", "stats:\n  allow: [127.0.0.1]\n")
	const clients = 30
	connect(t, st.URL("/ws"), clients)
	url := "http://" + st.Stats + "/stub_status"
	var body string
	// The scrape is a connection too; a probe that just closed may still
	// be counted for a moment.
	want := fmt.Sprint(clients + 1)
	lbtest.WaitFor(t, 10*time.Second, "stub_status to count "+want+" connections", func() bool {
		var code int
		code, body = get(t, url, "", "", "")
		m := activeConnections.FindStringSubmatch(body)
		return code == http.StatusOK && m != nil && m[1] == want
	})
	t.Logf("stub_status:\n%s", body)
	if code, _ := get(t, url, "127.0.0.2", "", ""); code != http.StatusForbidden {
		t.Errorf("GET %s from 127.0.0.2, outside stats.allow: HTTP %d, want 403", url, code)
	}
	if code, _ := get(t, "http://"+st.Stats+"/", "", "", ""); code != http.StatusNotFound {
		t.Errorf("GET / on the stats server: HTTP %d, want 404", code)
	}
}
