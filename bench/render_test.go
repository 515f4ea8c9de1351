package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wsctl/wsctl/discovery/static"
	"github.com/wsctl/wsctl/internal/lbtest"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/render"
	"github.com/wsctl/wsctl/spec"
)

// specWithServers returns examples/basic with n servers in its backend.
func specWithServers(tb testing.TB, n int) []byte {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(lbtest.ModuleRoot(tb), "examples", "basic", "wsctl.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(src), "    servers:\n")
	_, tail, ok2 := strings.Cut(rest, "\nhaproxy:")
	if !ok || !ok2 {
		tb.Fatal("examples/basic/wsctl.yaml: no servers list before haproxy:")
	}
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("    servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - name: s%05d\n        address: 10.%d.%d.%d:8080\n", i, i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("\nhaproxy:")
	b.WriteString(tail)
	return []byte(b.String())
}

func benchEnv(k string) (string, bool) {
	if k == "WSCTL_RUN_DIR" {
		return "/run/wsctl-bench", true
	}
	return "", false
}

// render is the control plane's whole path: spec text → spec → model →
// config bytes.
func renderSpec(tb testing.TB, text []byte, target string) (*model.Model, []byte) {
	s, err := spec.Parse("wsctl.yaml", text, benchEnv)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := render.Config(s, target, static.Snapshot(s), "")
	if err != nil {
		tb.Fatal(err)
	}
	return r.Model, r.Config
}

func benchmarkRender(b *testing.B, n int) {
	text := specWithServers(b, n)
	for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				renderSpec(b, text, target)
			}
		})
	}
}

// benchmarkBuildRender times what a discovery change costs once the spec
// is parsed: snapshot → model → config bytes.
func benchmarkBuildRender(b *testing.B, n int) {
	text := specWithServers(b, n)
	s, err := spec.Parse("wsctl.yaml", text, benchEnv)
	if err != nil {
		b.Fatal(err)
	}
	snap := static.Snapshot(s)
	for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := render.Config(s, target, snap, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuildRender10000(b *testing.B) { benchmarkBuildRender(b, 10000) }

func BenchmarkRender10(b *testing.B)    { benchmarkRender(b, 10) }
func BenchmarkRender1000(b *testing.B)  { benchmarkRender(b, 1000) }
func BenchmarkRender10000(b *testing.B) { benchmarkRender(b, 10000) }

// heapAfterModel returns the live heap a built n-server model holds.
func heapAfterModel(tb testing.TB, n int) uint64 {
	text := specWithServers(tb, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := spec.Parse("wsctl.yaml", text, benchEnv)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.Build(s, model.TargetHAProxy, static.Snapshot(s))
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(m)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestScenarioRenderCost checks that every server reaches both configs
// and, with -bench-full, times the render for 10, 1,000 and 10,000 servers.
func TestScenarioRenderCost(t *testing.T) {
	sizes := size([]int{10, 1000}, []int{10, 1000, 10000})
	for _, n := range sizes {
		text := specWithServers(t, n)
		for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
			_, out := renderSpec(t, text, target)
			prefix := "    server s"
			if target == model.TargetNginx {
				prefix = "server 10."
			}
			if got := bytes.Count(out, []byte(prefix)); got != n {
				t.Errorf("%s with %d servers: %d server lines in the config, want %d", target, n, got, n)
			}
		}
	}
	if !*full {
		return
	}
	var body strings.Builder
	fmt.Fprintf(&body, "## 3. The control plane's own cost: render\n\n"+
		"Method: examples/basic with its backend grown to N servers; one operation = spec text → `spec.Parse` → "+
		"`model.Build` (static discovery) → `templates.Render`, in one goroutine (`testing.Benchmark`, the same code as "+
		"`go test ./bench -bench Render -benchmem`). Median of %d runs. Heap = live heap (after GC) held by a parsed "+
		"spec plus its HAProxy model.\n\n", runs())
	fmt.Fprintf(&body, "| servers | target | time / render | of which build + template (parsed spec) | allocs / render | bytes allocated / render | config size |\n|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		text := specWithServers(t, n)
		for _, target := range []string{model.TargetHAProxy, model.TargetNginx} {
			var ns, allocs, bytesOp, buildNs []float64
			s, err := spec.Parse("wsctl.yaml", text, benchEnv)
			if err != nil {
				t.Fatal(err)
			}
			snap := static.Snapshot(s)
			for range runs() {
				br := testing.Benchmark(func(b *testing.B) {
					for b.Loop() {
						if _, err := render.Config(s, target, snap, ""); err != nil {
							b.Fatal(err)
						}
					}
				})
				buildNs = append(buildNs, float64(br.NsPerOp()))
				r := testing.Benchmark(func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						renderSpec(b, text, target)
					}
				})
				ns = append(ns, float64(r.NsPerOp()))
				allocs = append(allocs, float64(r.AllocsPerOp()))
				bytesOp = append(bytesOp, float64(r.AllocedBytesPerOp()))
			}
			_, out := renderSpec(t, text, target)
			fmt.Fprintf(&body, "| %d | %s | %.2f ms | %.2f ms | %.0f | %.1f MB | %.0f KB |\n", n, target,
				Median(ns)/1e6, Median(buildNs)/1e6, Median(allocs), Median(bytesOp)/1e6, float64(len(out))/1024)
		}
	}
	var heaps []float64
	for range runs() {
		heaps = append(heaps, float64(heapAfterModel(t, 10000)))
	}
	fmt.Fprintf(&body, "\nHeap held by a parsed spec and its model with 10,000 servers: %.1f MB (median). "+
		"Target (docs/architecture.md): render 10,000 servers < 100 ms.\n", Median(heaps)/1e6)
	publish(t, "render", body.String(), nil)
}
