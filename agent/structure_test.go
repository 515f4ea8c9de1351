package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/templates"
)

// TestSameStructure: models that differ in servers alone have the same
// structure (the agent applies them before rendering); any other
// difference does not.
func TestSameStructure(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	build := func(instances ...discovery.Instance) *model.Model {
		return u.a.model(model.TargetHAProxy, map[string][]discovery.Instance{"ws": instances})
	}
	base := build(inst("a", 1), inst("b", 2))
	tests := []struct {
		name string
		edit func(m *model.Model)
		want bool
	}{
		{name: "a server added", edit: func(m *model.Model) { *m = *build(inst("a", 1), inst("b", 2), inst("c", 3)) }, want: true},
		{name: "no server left", edit: func(m *model.Model) { *m = *build() }, want: true},
		{name: "balance", edit: func(m *model.Model) { m.Backends[0].Balance = "source" }},
		{name: "default-server", edit: func(m *model.Model) { m.Backends[0].DefaultServer.Inter = "9s" }},
		{name: "a backend added", edit: func(m *model.Model) { m.Backends = append(m.Backends, model.Backend{Name: "other"}) }},
		{name: "maxconn", edit: func(m *model.Model) { m.MaxConn++ }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(inst("a", 1), inst("b", 2))
			tt.edit(m)
			if got := sameStructure(base, m); got != tt.want {
				t.Errorf("sameStructure = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestServersInStructureStillReload: with a template whose non-server
// lines depend on the servers (here `fullconn` from their count), a
// registration is applied at runtime first, then the rendered text shows
// the structure changed and HAProxy is reloaded with it, as before the
// runtime batch moved ahead of rendering.
func TestServersInStructureStillReload(t *testing.T) {
	u := newUnit(t, "1h", Config{})
	tmpl, err := templates.Embedded(model.TargetHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	const at = "{{- range $s := $b.Servers }}"
	if !strings.Contains(tmpl, at) {
		t.Fatalf("the embedded template has no %q", at)
	}
	tmpl = strings.Replace(tmpl, at, "    fullconn {{ len $b.Servers }}\n"+at, 1)
	if err := os.WriteFile(filepath.Join(u.dir, "custom.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	u.a.spec.Templates.HAProxy = "custom.tmpl"
	ctx := u.attach(t, u.render(t, inst("a", 1), inst("b", 2)))
	u.syncWith(ctx, inst("a", 1), inst("b", 2))
	_, reloads := u.counts()
	u.syncWith(ctx, inst("a", 1), inst("b", 2), inst("c", 3))
	if _, got := u.counts(); got != reloads+1 {
		t.Errorf("reloads: %d, want %d (fullconn changed)", got, reloads+1)
	}
	config, err := os.ReadFile(u.a.cfg.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(config), "fullconn 3") {
		t.Errorf("config without fullconn 3:\n%s", config)
	}
	if got := u.hap.admin("ws", "c"); got != haproxy.Ready {
		t.Errorf("c: %s, want READY", got)
	}
}
