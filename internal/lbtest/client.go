package lbtest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// Client is a WebSocket client with its own cookie jar, like a browser tab:
// it presents its sticky cookie again when it reconnects.
type Client struct {
	URL  string
	Jar  http.CookieJar
	Conn *websocket.Conn
	// Server is the backend that greeted the current connection.
	Server string
	// TLS configures wss:// connections (nil: Go's defaults).
	TLS *tls.Config
	// Source, when set, is the local address connections come from (say
	// 127.0.0.2, so a proxy's own 127.0.0.1 is not mistaken for it).
	Source string
	// ForwardedFor and ForwardedProto are the X-Forwarded-For and
	// X-Forwarded-Proto the backend received with the current connection.
	ForwardedFor, ForwardedProto string
}

// NewClient returns a disconnected client for url (ws://host:port/path).
func NewClient(url string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{URL: url, Jar: jar}
}

// Connect opens a WebSocket and reads wsecho's greeting to learn which
// backend it landed on.
func (c *Client) Connect() error {
	d := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second, TLSClientConfig: c.TLS}
	if c.Source != "" {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.Source)}}
		d.NetDialContext = nd.DialContext
	}
	conn, resp, err := d.Dial(c.URL, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial %s: %w (HTTP %d)", c.URL, err, resp.StatusCode)
		}
		return fmt.Errorf("dial %s: %w", c.URL, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello struct {
		Type, Server   string
		ForwardedFor   string `json:"forwarded_for"`
		ForwardedProto string `json:"forwarded_proto"`
	}
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		conn.Close()
		return fmt.Errorf("greeting from %s: %v (%+v)", c.URL, err, hello)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c.Conn, c.Server = conn, hello.Server
	c.ForwardedFor, c.ForwardedProto = hello.ForwardedFor, hello.ForwardedProto
	return nil
}

// Echo sends msg and waits for it to come back.
func (c *Client) Echo(msg string) error {
	deadline := time.Now().Add(5 * time.Second)
	_ = c.Conn.SetWriteDeadline(deadline)
	_ = c.Conn.SetReadDeadline(deadline)
	defer c.Conn.SetReadDeadline(time.Time{})
	if err := c.Conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	_, got, err := c.Conn.ReadMessage()
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	}
	return nil
}

// Close closes the connection with a normal closure.
func (c *Client) Close() {
	if c.Conn == nil {
		return
	}
	_ = c.Conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Conn.Close()
	c.Conn = nil
}

// Cookie returns the value of the named cookie the client holds for its URL.
func (c *Client) Cookie(name string) string {
	u, err := httpURL(c.URL)
	if err != nil {
		return ""
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func httpURL(ws string) (*url.URL, error) {
	u, err := url.Parse(ws)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	return u, nil
}
