package spec

import (
	"strings"
	"testing"
)

const frontSection = `front:
  listeners:
    - name: edge
      bind: 127.0.0.1:8443
      tls:
        cert: /etc/ssl/site.pem
`

// TestFrontDefaults: a front on one host forwards to the only listener and
// trusts 127.0.0.1.
func TestFrontDefaults(t *testing.T) {
	s, err := Parse("wsctl.yaml", []byte(validSpec+frontSection), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Front.Listeners[0].To; got != "front" {
		t.Errorf("to = %q, want front", got)
	}
	if got := strings.Join(s.Front.From, " "); got != "127.0.0.1" {
		t.Errorf("from = %q, want 127.0.0.1", got)
	}
}

// TestFrontBadInput: every bad front section is an error naming file:line
// and the field.
func TestFrontBadInput(t *testing.T) {
	tests := []struct {
		name  string
		src   string // replaces the listener's bind when not empty
		front string
		want  string
	}{
		{name: "no listeners", front: "front:\n  from: [10.0.0.1]\n", want: `wsctl.yaml:23: front.listeners: at least one listener is required`},
		{name: "same bind as a listener", front: "front:\n  listeners:\n    - name: edge\n      bind: 127.0.0.1:8080\n", want: `wsctl.yaml:26: front.listeners[0].bind: "127.0.0.1:8080" overlaps listeners[0].bind`},
		{name: "unknown listener", front: "front:\n  listeners:\n    - name: edge\n      bind: 127.0.0.1:8443\n      to: nope\n", want: `wsctl.yaml:27: front.listeners[0].to: unknown listener "nope"`},
		{name: "bad name", front: "front:\n  listeners:\n    - name: 'a b'\n      bind: 127.0.0.1:8443\n", want: `wsctl.yaml:25: front.listeners[0].name: "a b" is not a valid listener name`},
		{name: "bad network", front: frontSection + "  from: [10.0.0.0/33]\n", want: `wsctl.yaml:29: front.from[0]: "10.0.0.0/33" is not a network`},
		{name: "remote listener needs from", src: "10.0.0.5:8080", front: frontSection, want: `front.from: is required unless every listener`},
		{name: "front stats with auth", front: frontSection + "  stats:\n    bind: 127.0.0.1:8405\n    auth: stats.auth\n", want: `front.stats.auth: nginx's auth_basic wants hashed passwords`},
		{name: "front stats on the stats port", front: "stats:\n  bind: 127.0.0.1:8404\n" + frontSection + "  stats:\n    bind: 127.0.0.1:8404\n", want: `front.stats.bind: "127.0.0.1:8404" overlaps stats.bind`},
		{name: "unknown key", front: frontSection + "  upstream: x\n", want: `wsctl.yaml:29: front.upstream: unknown key`},
		{name: "front alpn without http/1.1", front: "front:\n  listeners:\n    - name: edge\n      bind: 127.0.0.1:8443\n      tls: {cert: /c.pem, alpn: [h2]}\n", want: `wsctl.yaml:27: front.listeners[0].tls.alpn: http/1.1 is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := validSpec + tt.front
			if tt.src != "" {
				src = strings.Replace(src, "bind: 127.0.0.1:8080", "bind: "+tt.src, 1)
			}
			_, err := Parse("wsctl.yaml", []byte(src), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

// TestFrontToTLSListener: the layers speak plain HTTP, so the front may not
// forward to a listener that terminates TLS.
func TestFrontToTLSListener(t *testing.T) {
	for _, binds := range []string{
		"    bind: 127.0.0.1:8080\n    tls:\n      cert: /x.pem\n",
		"    binds:\n      - address: 127.0.0.1:8080\n      - address: 127.0.0.1:8443\n        tls: {cert: /x.pem}\n",
	} {
		src := strings.Replace(validSpec, "    bind: 127.0.0.1:8080\n", binds, 1) + frontSection
		_, err := Parse("wsctl.yaml", []byte(src), noEnv)
		if err == nil || !strings.Contains(err.Error(), `front.listeners[0].to: listener "front" terminates TLS`) {
			t.Errorf("%s: error = %v, want front.listeners[0].to: listener \"front\" terminates TLS", binds, err)
		}
	}
}
