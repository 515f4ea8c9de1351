package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/runtime"
)

// TestRecordIntent proves drain/maint/ready with -c keep the operator's
// intent in the file beside the spec's admin socket, and nothing without -c.
func TestRecordIntent(t *testing.T) {
	dir := t.TempDir()
	specPath := writeFile(t, filepath.Join(dir, "wsctl.yaml"), `listeners: [{name: f, bind: '127.0.0.1:1', default_backend: ws}]
backends: [{name: ws}]
haproxy: {admin_socket: `+dir+`/admin.sock}
`)
	found := []located{{Server: runtime.ServerStatus{Backend: "ws", Server: "backend2"}}}
	ctx := context.Background()
	store := intent.NewFile(filepath.Join(dir, intent.FileName))
	state := func() runtime.AdminState {
		all, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return all[runtime.Ref{Backend: "ws", Server: "backend2"}].State
	}

	none := &SocketOptions{}
	if err := none.recordIntent(ctx, found, runtime.Drain); err != nil || state() != "" {
		t.Fatalf("without -c: err %v, state %q", err, state())
	}
	opts := &SocketOptions{SpecPath: specPath}
	for _, want := range []runtime.AdminState{runtime.Drain, runtime.Maint, ""} {
		if err := opts.recordIntent(ctx, found, want); err != nil {
			t.Fatal(err)
		}
		if got := state(); got != want {
			t.Errorf("after recording %q: %q", want, got)
		}
	}
}
