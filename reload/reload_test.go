package reload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/haproxy"
)

// fakeWorker is a worker behind the admin socket.
type fakeWorker struct{ pid int64 }

var _ Worker = fakeWorker{}

func (w fakeWorker) Info() haproxy.Info { return haproxy.Info{Version: "2.6.12", Pid: w.pid} }

func (w fakeWorker) ServersStateText(context.Context) (string, error) {
	return "1\n# saved from " + w.Info().Version + "\n", nil
}

// fakeHAProxy is an HAProxy with one func field per method; a test sets
// the ones it needs, and an unset one fails the test when called.
type fakeHAProxy struct {
	t            *testing.T
	WorkerFunc   func(ctx context.Context) (fakeWorker, error)
	ReloadFunc   func(ctx context.Context) error
	ValidateFunc func(ctx context.Context, config []byte) error
	WriteFunc    func(config []byte) (bool, error)
}

var _ HAProxy[fakeWorker] = (*fakeHAProxy)(nil)

func (f *fakeHAProxy) Worker(ctx context.Context) (fakeWorker, error) {
	if f.WorkerFunc == nil {
		f.t.Fatal("Worker called")
	}
	return f.WorkerFunc(ctx)
}

func (f *fakeHAProxy) Reload(ctx context.Context) error {
	if f.ReloadFunc == nil {
		f.t.Fatal("Reload called")
	}
	return f.ReloadFunc(ctx)
}

func (f *fakeHAProxy) Validate(ctx context.Context, config []byte) error {
	if f.ValidateFunc == nil {
		f.t.Fatal("Validate called")
	}
	return f.ValidateFunc(ctx, config)
}

func (f *fakeHAProxy) Write(config []byte) (bool, error) {
	if f.WriteFunc == nil {
		f.t.Fatal("Write called")
	}
	return f.WriteFunc(config)
}

// proc is an HAProxy whose reload starts worker pid+1; calls records, in
// order, what the sequence did.
type proc struct {
	pid int64
	// away is how many dials after the reload fail, as while 2.6's
	// master re-executes itself.
	away  int
	calls []string
}

func (p *proc) fake(t *testing.T) *fakeHAProxy {
	return &fakeHAProxy{
		t: t,
		WorkerFunc: func(context.Context) (fakeWorker, error) {
			if p.away > 0 {
				p.away--
				return fakeWorker{}, haproxy.ErrNoSocket
			}
			p.calls = append(p.calls, "worker")
			return fakeWorker{pid: p.pid}, nil
		},
		ReloadFunc: func(context.Context) error {
			p.calls = append(p.calls, "reload")
			p.pid++
			return nil
		},
		ValidateFunc: func(context.Context, []byte) error { p.calls = append(p.calls, "validate"); return nil },
		WriteFunc:    func([]byte) (bool, error) { p.calls = append(p.calls, "write"); return true, nil },
	}
}

// TestRunOrder: a reload validates, finds the worker to replace, writes,
// saves that worker's state, asks the master, and confirms the new worker
// on the admin socket, through a moment the socket is away.
func TestRunOrder(t *testing.T) {
	p := &proc{pid: 41}
	h := p.fake(t)
	h.ReloadFunc = func(context.Context) error {
		p.calls = append(p.calls, "reload")
		p.pid, p.away = 57, 2
		return nil
	}
	file := filepath.Join(t.TempDir(), "server-state")
	res, err := Run(t.Context(), h, []byte("cfg"), Options{
		StateFile: file,
		Written:   func(changed bool) { p.calls = append(p.calls, "written") },
		Saving:    func(context.Context) { p.calls = append(p.calls, "saving") },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Old != 41 || res.New != 57 || res.Worker.pid != 57 || !res.Changed {
		t.Errorf("result = %+v, want 41 replaced by 57, file changed", res)
	}
	want := []string{"validate", "worker", "write", "written", "saving", "reload", "worker"}
	if !slices.Equal(p.calls, want) {
		t.Errorf("calls = %v, want %v", p.calls, want)
	}
	if saved, err := os.ReadFile(file); err != nil || !strings.Contains(string(saved), "saved from") {
		t.Errorf("state file = %q, %v; want the old worker's state", saved, err)
	}
}

// TestRunStops: each step that fails stops the reload there, names the
// step, and does nothing after it.
func TestRunStops(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		set   func(p *proc, h *fakeHAProxy)
		opts  Options
		step  Step
		calls []string
		// anyCalls skips the check of calls.
		anyCalls bool
	}{
		{
			name:  "rejected config",
			set:   func(p *proc, h *fakeHAProxy) { h.ValidateFunc = func(context.Context, []byte) error { return boom } },
			step:  StepValidate,
			calls: nil,
		},
		{
			name: "no admin socket",
			set: func(p *proc, h *fakeHAProxy) {
				h.WorkerFunc = func(context.Context) (fakeWorker, error) { return fakeWorker{}, boom }
			},
			step:  StepDial,
			calls: []string{"validate"},
		},
		{
			name:  "write fails",
			set:   func(p *proc, h *fakeHAProxy) { h.WriteFunc = func([]byte) (bool, error) { return false, boom } },
			step:  StepWrite,
			calls: []string{"validate", "worker"},
		},
		{
			name: "the master refuses the config (3.0)",
			set: func(p *proc, h *fakeHAProxy) {
				h.ReloadFunc = func(context.Context) error { p.calls = append(p.calls, "reload"); return boom }
			},
			step:  StepReload,
			calls: []string{"validate", "worker", "write", "reload"},
		},
		{
			name: "no new worker (2.6 fails silently)",
			set: func(p *proc, h *fakeHAProxy) {
				h.ReloadFunc = func(context.Context) error { p.calls = append(p.calls, "reload"); return nil }
			},
			opts:     Options{Wait: time.Millisecond},
			step:     StepReload,
			anyCalls: true,
		},
		{
			name:  "state not saved",
			set:   func(p *proc, h *fakeHAProxy) {},
			opts:  Options{StateFile: filepath.Join("/nonexistent-wsctl-dir", "server-state")},
			step:  StepState,
			calls: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &proc{pid: 41}
			h := p.fake(t)
			tt.set(p, h)
			_, err := Run(t.Context(), h, []byte("cfg"), tt.opts)
			if got := StoppedAt(err); got != tt.step {
				t.Fatalf("stopped at %q (%v), want %q", got, err, tt.step)
			}
			if tt.step != StepState && !errors.Is(err, boom) && !strings.Contains(err.Error(), "no new worker") {
				t.Errorf("err = %v, want the step's own error", err)
			}
			if !tt.anyCalls && !slices.Equal(p.calls, tt.calls) {
				t.Errorf("calls = %v, want %v", p.calls, tt.calls)
			}
		})
	}
}

// TestRunStateErrorGoesOn: with StateError set, a state file that cannot
// be written is reported to it and the reload goes on.
func TestRunStateErrorGoesOn(t *testing.T) {
	p := &proc{pid: 41}
	var reported []error
	res, err := Run(t.Context(), p.fake(t), []byte("cfg"), Options{
		StateFile:  filepath.Join("/nonexistent-wsctl-dir", "server-state"),
		StateError: func(err error) { reported = append(reported, err) },
	})
	if err != nil || res.New != 42 {
		t.Fatalf("Run = %+v, %v; want worker 42", res, err)
	}
	if len(reported) != 2 {
		t.Errorf("reported %v, want the failed create and the failed save", reported)
	}
}

// TestSwapRestartedBehindOurBack: the worker to replace is the one that
// answers when the reload is asked, not one the caller saw earlier: an
// HAProxy restarted meanwhile (pid 90) is not taken for the new worker.
func TestSwapRestartedBehindOurBack(t *testing.T) {
	p := &proc{pid: 90}
	res, err := Swap(t.Context(), p.fake(t), time.Second)
	if err != nil || res.Old != 90 || res.New != 91 {
		t.Fatalf("Swap = %+v, %v; want 90 replaced by 91", res, err)
	}
}

// TestSwapCanceled: a canceled wait ends with the context's error.
func TestSwapCanceled(t *testing.T) {
	p := &proc{pid: 41}
	h := p.fake(t)
	ctx, cancel := context.WithCancel(t.Context())
	h.ReloadFunc = func(context.Context) error { cancel(); return nil } // no new worker
	if _, err := Swap(ctx, h, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
