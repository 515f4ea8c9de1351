package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/internal/inputfile/inputfiletest"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/internal/statefile/statefiletest"
	"github.com/wsctl/wsctl/spec"
)

// exercise runs the same checks on any store.
func exercise(t *testing.T, s Store) {
	ctx := context.Background()
	got, err := s.Load(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	in := Intent{Backend: "ws", Server: "backend2", State: haproxy.Drain, Since: time.Unix(1, 0).UTC()}
	if err := s.Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.State = haproxy.Maint
	if err := s.Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Intent{Backend: "ws", Server: "backend3", State: haproxy.Drain}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[in.Ref()].State != haproxy.Maint {
		t.Errorf("after puts: %+v", got)
	}
	if err := s.Delete(ctx, in.Ref()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, in.Ref()); err != nil {
		t.Errorf("deleting a missing intent: %v", err)
	}
	got, _ = s.Load(ctx)
	if _, ok := got[in.Ref()]; ok || len(got) != 1 {
		t.Errorf("after delete: %+v", got)
	}
	for _, bad := range []Intent{
		{Backend: "ws", Server: "a\nset server ws/b state maint", State: haproxy.Drain},
		{Backend: "ws/x", Server: "a", State: haproxy.Drain},
		{Backend: "ws", Server: "a", State: haproxy.Ready},
	} {
		if err := s.Put(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFile(t *testing.T) {
	exercise(t, NewFile(filepath.Join(t.TempDir(), FileName)))
}

// TestFileConcurrentPuts proves the lock: a CLI and an agent writing at once
// lose nothing.
func TestFileConcurrentPuts(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), FileName))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := f.Put(context.Background(), Intent{Backend: "ws", Server: fmt.Sprintf("s%d", i), State: haproxy.Maint}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := f.Load(context.Background()); len(got) != 20 {
		t.Errorf("%d intents after 20 concurrent puts", len(got))
	}
}

func TestConsul(t *testing.T) {
	c := lbtest.StartConsul(t)
	s, err := NewConsul(spec.Consul{Address: c.Addr, KVPrefix: "wsctl/"})
	if err != nil {
		t.Fatal(err)
	}
	// A foreign or damaged key under the prefix is never acted on.
	if _, err := c.Client.KV().Put(&api.KVPair{Key: "wsctl/intents/ws/junk", Value: []byte("not json")}, nil); err != nil {
		t.Fatal(err)
	}
	exercise(t, s)
}

func TestOpenPicksTheStore(t *testing.T) {
	env := func(string) (string, bool) { return "", false }
	static, err := spec.Parse("a.yaml", []byte("listeners: [{name: f, bind: '127.0.0.1:1', default_backend: b}]\nbackends: [{name: b}]\nhaproxy: {admin_socket: /run/x/admin.sock}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := Open(static); s.Where() != "/run/x/"+FileName {
		t.Errorf("static spec: %s", s.Where())
	}
	withConsul, err := spec.Parse("b.yaml", []byte("listeners: [{name: f, bind: '127.0.0.1:1', default_backend: b}]\nbackends: [{name: b, consul: {service: s}}]\nconsul: {address: '127.0.0.1:1'}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(withConsul); err != nil || s.Where() != "consul 127.0.0.1:1 kv wsctl/intents/" {
		t.Errorf("consul spec: %v %v", s, err)
	}
}

// TestFileRefusesAFIFO: a FIFO in place of the intent file hung every drain,
// ready and maint command, and the agent.
func TestFileRefusesAFIFO(t *testing.T) {
	fifo := inputfiletest.Specials(t)["FIFO"]
	_, err := NewFile(fifo).Load(context.Background())
	if want := "intent: " + fifo + ": not a regular file (FIFO)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestFileRefusesPlantedLinks: in a directory another user can write
// (Debian's /run/haproxy), a link planted as the intents file or as its
// lock file made root's `wsctl drain` replace (or create) the link's
// target; both are refused and the target is unchanged. The normal path
// still works in such a directory.
func TestFileRefusesPlantedLinks(t *testing.T) {
	ctx := context.Background()
	in := Intent{Backend: "ws", Server: "backend2", State: haproxy.Maint}
	for _, planted := range []string{FileName, FileName + ".lock"} {
		d := statefiletest.New(t)
		link := d.Link(t, planted)
		err := NewFile(filepath.Join(d.Path, FileName)).Put(ctx, in)
		if want := link + ": refusing to follow symbolic link"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s planted: Put = %v, want %q", planted, err, want)
		}
		d.Check(t, link)
	}
	exercise(t, NewFile(filepath.Join(statefiletest.New(t).Path, FileName)))
}

// TestFileRefusesForeignFile: an intents file owned by another user is
// refused on read, not taken as the operators' intents.
func TestFileRefusesForeignFile(t *testing.T) {
	d := statefiletest.New(t)
	path := d.Foreign(t, FileName, `[{"backend":"ws","server":"backend2","state":"MAINT"}]`)
	_, err := NewFile(path).Load(context.Background())
	if want := "intent: " + path + ": owned by uid 65534, not 0"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestOpBounds: an op's durations and rate are bounded as `wsctl drain`
// bounds its flags, before any conversion (1e10 s overflowed a
// time.Duration into a drain that closed at once), and an intent out of
// bounds read from Consul is never acted on.
func TestOpBounds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		name string
		op   Op
		ok   bool
	}{
		{"a drain", Op{ID: "x", CloseAfter: f(30), CloseRate: 50, Timeout: 120}, true},
		{"a hold", Op{ID: "x", Hold: true}, true},
		{"all at once", Op{ID: "x", CloseAfter: f(0), CloseRate: 0}, true},
		{"close_after 1e10", Op{ID: "x", CloseAfter: f(1e10), CloseRate: 50}, false},
		{"close_after NaN", Op{ID: "x", CloseAfter: f(math.NaN())}, false},
		{"close_after negative", Op{ID: "x", CloseAfter: f(-1)}, false},
		{"timeout 1e10", Op{ID: "x", Timeout: 1e10}, false},
		{"timeout +Inf", Op{ID: "x", Timeout: math.Inf(1)}, false},
		{"close_after past the timeout", Op{ID: "x", CloseAfter: f(60), Timeout: 30}, false},
		{"rate above the CLI's", Op{ID: "x", CloseAfter: f(1), CloseRate: 1e9}, false},
		{"rate below the CLI's", Op{ID: "x", CloseAfter: f(1), CloseRate: 0.001}, false},
		{"rate NaN", Op{ID: "x", CloseRate: math.NaN()}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := Intent{Backend: "ws", Server: "s1", State: haproxy.Drain, Op: &c.op}
			err := in.Validate()
			if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v, want ok %v", err, c.ok)
			}
			if math.IsNaN(c.op.CloseRate) || math.IsInf(c.op.Timeout, 0) || c.op.CloseAfter != nil && math.IsNaN(*c.op.CloseAfter) {
				return // JSON carries no NaN or Inf
			}
			b, _ := json.Marshal(in)
			store := NewConsulWith(nil, "", "p/")
			if _, ok := store.Decode(&api.KVPair{Key: "p/intents/ws/s1", Value: b}); ok != c.ok {
				t.Errorf("Decode ok %v, want %v", ok, c.ok)
			}
		})
	}
}

// TestWho: the audit trail names user@host, $USER first, then $LOGNAME.
func TestWho(t *testing.T) {
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "USER", env: map[string]string{"USER": "ann", "LOGNAME": "bob"}, want: "ann@" + host},
		{name: "LOGNAME", env: map[string]string{"LOGNAME": "bob"}, want: "bob@" + host},
		{name: "none", want: "@" + host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Who(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
