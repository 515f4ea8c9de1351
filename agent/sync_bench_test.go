package agent

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/haproxy"
)

// BenchmarkSyncOneRegistration is the agent's work for one registration
// in a backend of 1,000 servers, on the fakes (HAProxy's socket and
// Consul cost nothing here): what a sync spends in-process between
// discovery's answer and the runtime batch, and after it.
func BenchmarkSyncOneRegistration(b *testing.B) {
	u := newUnit(b, "1h", Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	const n = 1000
	servers := make([]discovery.Instance, n+1)
	for i := range servers {
		servers[i] = discovery.Instance{ID: fmt.Sprintf("s%04d", i), Host: discovery.MustParseIP(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)), Port: 80, Healthy: true}
	}
	ctx := u.attach(b, u.render(b, servers[:n]...))
	u.syncWith(ctx, servers[:n]...)
	var applied time.Time
	u.hap.applyErr = func(haproxy.Change) error {
		if applied.IsZero() {
			applied = time.Now()
		}
		return nil
	}
	var toApply [2]time.Duration // registrations, deregistrations
	b.ResetTimer()
	for i := range b.N {
		// Alternately register s1000 and deregister it again (a drain).
		snap := servers[:n+1-i%2]
		applied = time.Time{}
		start := time.Now()
		u.syncWith(ctx, snap...)
		toApply[i%2] += applied.Sub(start)
	}
	b.ReportMetric(float64(toApply[0].Microseconds())/1000/float64((b.N+1)/2), "ms-to-add/op")
	b.ReportMetric(float64(toApply[1].Microseconds())/1000/float64(max(b.N/2, 1)), "ms-to-drain/op")
}
