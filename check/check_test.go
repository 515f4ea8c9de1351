package check_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/check"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/lint"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/spec"
)

// example returns a loader of examples/NAME with env (nil: none set).
func example(t *testing.T, name string, env map[string]string) func() (*spec.Spec, error) {
	path := filepath.Join(lbtest.ModuleRoot(t), "examples", name, "wsctl.yaml")
	return func() (*spec.Spec, error) {
		return spec.LoadEnv(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
}

// accept is a binary that accepts every config; it records what it judged.
func accept(judged *[]string) func(context.Context, string, []byte) (*proxy.Result, error) {
	return func(_ context.Context, target string, _ []byte) (*proxy.Result, error) {
		*judged = append(*judged, target)
		return &proxy.Result{Binary: target, Path: "/fake/" + target}, nil
	}
}

// reject is a binary that refuses target's configs and accepts the other's.
func reject(target string) func(context.Context, string, []byte) (*proxy.Result, error) {
	return func(_ context.Context, t string, _ []byte) (*proxy.Result, error) {
		if t != target {
			return &proxy.Result{Binary: t, Path: "/fake/" + t}, nil
		}
		return nil, &proxy.Rejected{Binary: t, Path: "/fake/" + t, Output: "bad", Problems: []proxy.Problem{{Severity: "error", Line: 3, Message: "unknown keyword"}}}
	}
}

// bigHost is a proxy host that carries every example.
var bigHost = lint.Options{FDLimit: 1 << 20, CPUs: 4}

func TestRun(t *testing.T) {
	var judged []string
	for _, tc := range []struct {
		name    string
		example string
		o       check.Options
		// wantLayers are the targets of the reports, in order; wantPassed
		// the verdict.
		wantLayers []string
		wantPassed bool
		verify     func(t *testing.T, res *check.Layered)
	}{
		{name: "accepted", example: "basic", o: check.Options{Validate: accept(&judged)},
			wantLayers: []string{"haproxy"}, wantPassed: true, verify: func(t *testing.T, res *check.Layered) {
				r := res.Layers[0]
				if !r.Valid || r.Binary != "haproxy" || r.BinaryPath != "/fake/haproxy" || r.Lint == nil || r.Backends != 1 {
					t.Errorf("got %+v, want a valid, linted report of the fake binary", r)
				}
			}},
		{name: "rejected", example: "basic", o: check.Options{Validate: reject("haproxy")},
			wantLayers: []string{"haproxy"}, verify: func(t *testing.T, res *check.Layered) {
				r := res.Layers[0]
				if r.Valid || r.Lint != nil || r.Output != "bad" || len(r.Problems) != 1 || r.Problems[0].Line != 3 {
					t.Errorf("got %+v, want the rejection, not linted", r)
				}
			}},
		{name: "host too small", example: "basic", o: check.Options{Validate: accept(&judged), Host: lint.Options{FDLimit: 2000}},
			wantLayers: []string{"haproxy"}, verify: func(t *testing.T, res *check.Layered) {
				if h := res.Layers[0].Host; h == nil || h.Severity != "error" || !strings.Contains(h.Message, "allows 2000 open files") {
					t.Errorf("host %+v, want an error for 2000 files", h)
				}
			}},
		{name: "target given", example: "basic", o: check.Options{Target: "nginx", Validate: accept(&judged)},
			wantLayers: []string{"nginx"}, wantPassed: true, verify: func(t *testing.T, res *check.Layered) {
				if si := res.Layers[0].StandIns; len(si) != 1 || si[0].Field != "nginx.temp_dir" {
					t.Errorf("stand-ins %+v, want nginx.temp_dir's", si)
				}
			}},
		{name: "missing certificate", example: "chat", o: check.Options{Validate: accept(&judged)},
			wantLayers: []string{"haproxy"}, wantPassed: true, verify: func(t *testing.T, res *check.Layered) {
				if si := res.Layers[0].StandIns; len(si) != 1 || si[0].Field != "listeners[0].tls.cert" || si[0].Path != "tls/site.pem" {
					t.Errorf("stand-ins %+v, want the certificate's", si)
				}
			}},
		{name: "both layers", example: "layered", o: check.Options{Validate: accept(&judged), Host: bigHost},
			wantLayers: []string{"haproxy", "nginx"}, wantPassed: true, verify: func(t *testing.T, res *check.Layered) {
				if res.Chain == nil {
					t.Error("chain nil, want the chain linted")
				}
			}},
		{name: "one layer of two", example: "layered", o: check.Options{Target: "nginx", Validate: accept(&judged), Host: bigHost},
			wantLayers: []string{"nginx"}, wantPassed: true},
		{name: "first layer rejected", example: "layered", o: check.Options{Validate: reject("haproxy")},
			wantLayers: []string{"haproxy"}},
		{name: "second layer rejected", example: "layered", o: check.Options{Validate: reject("nginx"), Host: bigHost},
			wantLayers: []string{"haproxy", "nginx"}, verify: func(t *testing.T, res *check.Layered) {
				if !res.Layers[0].Passed || res.Layers[1].Passed || len(res.Chain) != 0 {
					t.Errorf("got %+v, want haproxy passed, nginx failed, no chain", res)
				}
			}},
		{name: "a binary for both layers", example: "layered", o: check.Options{Nginx: "/opt/nginx", Validate: accept(&judged), Host: bigHost},
			wantLayers: []string{"haproxy", "nginx"}, wantPassed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := check.Run(context.Background(), example(t, tc.example, nil), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var layers []string
			for _, r := range res.Layers {
				layers = append(layers, r.Target)
				if r.StandIns == nil || r.Problems == nil {
					t.Errorf("%s: stand-ins %v, problems %v; want [] for JSON", r.Target, r.StandIns, r.Problems)
				}
			}
			if strings.Join(layers, ",") != strings.Join(tc.wantLayers, ",") || res.Passed != tc.wantPassed {
				t.Errorf("layers %v passed %v, want %v passed %v\n%+v", layers, res.Passed, tc.wantLayers, tc.wantPassed, res.Layers[0])
			}
			if tc.verify != nil {
				tc.verify(t, res)
			}
		})
	}
}

// TestRunBinaryForTheOtherProxy: a binary given for the proxy the config
// is not for is a mistake (exit 2), unless both layers are checked.
func TestRunBinaryForTheOtherProxy(t *testing.T) {
	var judged []string
	for _, tc := range []struct {
		name string
		o    check.Options
		want string
	}{
		{name: "nginx's for haproxy", o: check.Options{Nginx: "/opt/nginx"}, want: "--nginx: the config is for haproxy (give --haproxy, or --target nginx)"},
		{name: "haproxy's for nginx", o: check.Options{Target: "nginx", HAProxy: "/opt/haproxy"}, want: "--haproxy: the config is for nginx (give --nginx, or --target haproxy)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Validate = accept(&judged)
			_, err := check.Run(context.Background(), example(t, "basic", nil), tc.o)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if len(judged) != 0 {
		t.Errorf("judged %v, want nothing run", judged)
	}
}

// TestRunWithoutConsul: a Consul that does not answer does not fail the
// check: the config is judged without its servers, and the report says so.
func TestRunWithoutConsul(t *testing.T) {
	var judged []string
	down := lbtest.Addr(t) // free: nothing listens there
	res, err := check.Run(context.Background(), example(t, "consul", map[string]string{"CONSUL_HTTP_ADDR": down}), check.Options{Validate: accept(&judged)})
	if err != nil {
		t.Fatal(err)
	}
	si := res.Layers[0].StandIns
	if !res.Passed || len(si) != 1 || si[0].Field != check.ConsulField || si[0].Path != down || !strings.Contains(si[0].Note, "without the servers Consul would add") {
		t.Errorf("passed %v, stand-ins %+v; want passed, Consul's stand-in", res.Passed, si)
	}
}
