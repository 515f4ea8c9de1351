package haproxy

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAddServerCommand(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name    string
		backend string
		server  string
		addr    netip.Addr
		port    int
		opts    ServerOptions
		want    string
		wantErr error
	}{
		{name: "bare", backend: "ws", server: "a", addr: ip, port: 80, want: "add server ws/a 10.0.0.1:80"},
		{
			name: "everything", backend: "ws", server: "a", addr: ip, port: 8080,
			opts: ServerOptions{Check: true, Inter: "300ms", Fall: 2, Rise: 1, Weight: 100, Cookie: "a", Slowstart: "30s", MaxConn: 500},
			want: "add server ws/a 10.0.0.1:8080 check inter 300ms fall 2 rise 1 weight 100 cookie a slowstart 30s maxconn 500",
		},
		{name: "ipv6", backend: "ws", server: "a", addr: netip.MustParseAddr("::1"), port: 80, want: "add server ws/a [::1]:80"},
		{name: "bad server name", backend: "ws", server: "a b", addr: ip, port: 80, wantErr: ErrInvalidName},
		{name: "newline in backend", backend: "ws\nshutdown", server: "a", addr: ip, port: 80, wantErr: ErrInvalidName},
		{name: "no address", backend: "ws", server: "a", port: 80, wantErr: ErrInvalidName},
		{name: "bad port", backend: "ws", server: "a", addr: ip, port: 0, wantErr: ErrInvalidName},
		{name: "bad inter", backend: "ws", server: "a", addr: ip, port: 80, opts: ServerOptions{Check: true, Inter: "5s; del"}, wantErr: ErrInvalidName},
		{name: "bad cookie", backend: "ws", server: "a", addr: ip, port: 80, opts: ServerOptions{Cookie: "x y"}, wantErr: ErrInvalidName},
		{name: "bad slowstart", backend: "ws", server: "a", addr: ip, port: 80, opts: ServerOptions{Slowstart: "soon"}, wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := addServerCommand(tt.backend, tt.server, tt.addr, tt.port, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}
