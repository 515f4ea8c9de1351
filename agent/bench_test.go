package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/runtime"
)

// changes is how many membership changes each way of applying them gets.
const changes = 100

// BenchmarkRegisterToLive measures the time from a Consul HTTP registration
// to the server being READY in the running HAProxy, for 100 registrations:
// the agent (runtime API) against render-and-reload on every change, the
// consul-template way (emulated with a watcher that fires at once, which
// favours it). Run it with
//
//	go test ./agent -run '^$' -bench RegisterToLive -benchtime 1x
//
// It reports p50/p99 in ms, the reloads, and the HAProxy workers left
// (the baseline reloads through the master CLI, like the agent).
func BenchmarkRegisterToLive(b *testing.B) {
	b.Run("agent", func(b *testing.B) {
		for range b.N {
			r := startRig(b)
			cfg := Config{Spec: r.spec, MinQuiet: 5 * time.Millisecond, MaxQuiet: 100 * time.Millisecond}
			a := r.startAgentWith(b, cfg)
			lat := registerEach(b, r, func(string) {})
			report(b, r, lat, a.Metrics().Reloads.Load())
		}
	})
	b.Run("render-and-reload", func(b *testing.B) {
		for range b.N {
			r := startRig(b)
			var reloads uint64
			lat := registerEach(b, r, func(id string) {
				renderAndReload(b, r, id)
				reloads++
			})
			report(b, r, lat, reloads)
		}
	})
}

// registerEach registers changes instances one after the other, runs apply
// after each registration, and returns how long each took to be READY.
func registerEach(b *testing.B, r *rig, apply func(id string)) []time.Duration {
	b.Helper()
	c := r.client(b)
	var lat []time.Duration
	for i := range changes {
		id := fmt.Sprintf("bench-%03d", i)
		start := time.Now()
		err := r.consul.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: id, Name: "echo", Address: "127.0.0.1", Port: 20000 + i,
			Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing},
		})
		if err != nil {
			b.Fatal(err)
		}
		apply(id)
		for !ready(c, id) {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("%s not live after 10s; servers:\n%s", id, lbtest.SocketCommand(b, r.spec.HAProxy.AdminSocket, "show servers state ws"))
			}
			time.Sleep(500 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func ready(c *runtime.Client, id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := c.Server(ctx, "ws", id)
	return err == nil && s.Admin == runtime.Ready
}

// renderAndReload is what consul-template does on every change: query
// (until the new instance id shows, as its watch would fire), render, write,
// reload.
func renderAndReload(b *testing.B, r *rig, id string) {
	b.Helper()
	var snap discovery.Snapshot
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if snap, err = consul.Once(context.Background(), r.spec, nil); err != nil {
			b.Fatal(err)
		}
		if slices.ContainsFunc(snap.Backends["ws"], func(in discovery.Instance) bool { return in.ID == id }) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never showed in Consul", id)
		}
		time.Sleep(time.Millisecond)
	}
	res, err := render.Config(r.spec, model.TargetHAProxy, snap, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := proxy.WriteAtomic(r.haproxy.Config, res.Config); err != nil {
		b.Fatal(err)
	}
	// The master CLI refuses connections for a moment after each reload.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("unix", r.haproxy.MasterSocket, time.Second)
		if err == nil {
			_, err = c.Write([]byte("reload\n"))
			c.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("reload through the master CLI: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func report(b *testing.B, r *rig, lat []time.Duration, reloads uint64) {
	b.Helper()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	time.Sleep(500 * time.Millisecond) // let idle old workers finish
	procs, err := proxy.Children(r.haproxy.Proc.PID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms(0.5), "p50_ms")
	b.ReportMetric(ms(0.99), "p99_ms")
	b.ReportMetric(float64(reloads), "reloads")
	b.ReportMetric(float64(len(procs)), "workers")
	fmt.Fprintf(os.Stderr, "register→live over %d changes: p50 %.1f ms, p99 %.1f ms, reloads %d, workers %d\n", len(lat), ms(0.5), ms(0.99), reloads, len(procs))
}
