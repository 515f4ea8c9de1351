package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/internal/cli"
)

// TestRecordIntent proves drain/maint/ready with a spec (-c, or found) keep
// the operator's intent in the file beside the spec's admin socket, and
// nothing without one.
func TestRecordIntent(t *testing.T) {
	dir := t.TempDir()
	specPath := writeFile(t, filepath.Join(dir, "wsctl.yaml"), `listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]
backends: [{name: ws}]
haproxy: {admin_socket: `+dir+`/admin.sock}
`)
	ref := haproxy.Ref{Backend: "ws", Server: "backend2"}
	ctx := context.Background()
	store := intent.NewFile(filepath.Join(dir, intent.FileName))
	state := func() haproxy.AdminState {
		all, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return all[haproxy.Ref{Backend: "ws", Server: "backend2"}].State
	}

	noEnv := func(string) string { return "" }
	none := &SocketOptions{}
	if store, err := none.intents(&cli.IOStreams{Getenv: noEnv}); err != nil || store != nil {
		t.Fatalf("without a spec: err %v, store %v", err, store)
	}
	given := &cli.IOStreams{Getenv: noEnv}
	searched := &cli.IOStreams{Getenv: noEnv, SpecSearch: []string{filepath.Join(dir, "absent.yaml"), specPath}}
	for _, c := range []struct {
		opts *SocketOptions
		io   *cli.IOStreams
	}{{&SocketOptions{SpecPath: specPath}, given}, {&SocketOptions{}, searched}} {
		for _, want := range []haproxy.AdminState{haproxy.Drain, haproxy.Maint, ""} {
			store, err := c.opts.intents(c.io)
			if err != nil {
				t.Fatal(err)
			}
			if want == "" {
				err = store.Delete(ctx, ref)
			} else {
				err = store.Put(ctx, intent.Intent{Backend: ref.Backend, Server: ref.Server, State: want})
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := state(); got != want {
				t.Errorf("-c %q: after recording %q: %q", c.opts.SpecPath, want, got)
			}
		}
	}
}
