package main

import (
	"bufio"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantAddr   string
		wantSpread time.Duration
		wantGreet  bool
	}{
		{name: "defaults", args: []string{"--id", "b1"}, wantAddr: "127.0.0.1:9001", wantSpread: 2 * time.Second, wantGreet: true},
		{name: "all flags", args: []string{"--listen", "127.0.0.1:0", "--id", "b1", "--close-spread", "250ms", "--greeting=false", "--health-file", "/tmp/x"},
			wantAddr: "127.0.0.1:0", wantSpread: 250 * time.Millisecond},
		{name: "missing id", args: []string{}, wantErr: errUsage},
		{name: "unknown flag", args: []string{"--id", "b1", "--nope"}, wantErr: errUsage},
		{name: "stray argument", args: []string{"--id", "b1", "extra"}, wantErr: errUsage},
		{name: "negative spread", args: []string{"--id", "b1", "--close-spread", "-1s"}, wantErr: errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			addr, cfg, err := parseFlags(tt.args, &stderr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseFlags error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if stderr.Len() == 0 {
					t.Error("a usage error printed nothing")
				}
				return
			}
			if addr != tt.wantAddr || cfg.CloseSpread != tt.wantSpread || cfg.Greeting != tt.wantGreet || cfg.ID != "b1" {
				t.Errorf("got addr %q spread %v greeting %v id %q; want %q %v %v b1",
					addr, cfg.CloseSpread, cfg.Greeting, cfg.ID, tt.wantAddr, tt.wantSpread, tt.wantGreet)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "help", args: []string{"--help"}, want: exitOK},
		{name: "bad flags", args: []string{"--bogus"}, want: exitUsage},
		{name: "cannot listen", args: []string{"--id", "b1", "--listen", "256.0.0.1:1"}, want: exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if got := run(tt.args, &stderr); got != tt.want {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, got, tt.want, stderr.String())
			}
		})
	}
}

// process is a running wsecho binary.
type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's result, valid after exited
	mu     sync.Mutex
	stderr strings.Builder
}

var listeningLine = regexp.MustCompile(`msg=listening .*addr=(\S+) id=`)

// startBinary runs bin with args and waits for its listening line. The
// process is killed by PID when the test ends, if it is still running.
func startBinary(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.exited:
		t.Fatalf("wsecho exited before listening: %v\n%s", p.err, p.log())
	case <-time.After(10 * time.Second):
		t.Fatalf("wsecho did not log its listening line\n%s", p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// waitExit returns the exit code, failing the test if it takes too long.
func (p *process) waitExit(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("wsecho still running after %v\n%s", limit, p.log())
		return -1
	}
}

// waitHealth polls /health until it answers want: signals arrive
// asynchronously, so the test waits for the effect rather than a delay.
func waitHealth(t *testing.T, addr string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health never answered %d (last: %v, %v)", want, resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "wsecho")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)

	t.Run("signals toggle health and SIGTERM closes with 1001 spread", func(t *testing.T) {
		p := startBinary(t, bin, "--listen", "127.0.0.1:0", "--id", "backend1", "--close-spread", "500ms")
		waitHealth(t, p.addr, http.StatusOK)
		p.signal(t, syscall.SIGUSR1)
		waitHealth(t, p.addr, http.StatusServiceUnavailable)
		p.signal(t, syscall.SIGUSR2)
		waitHealth(t, p.addr, http.StatusOK)

		const clients = 6
		type closeSeen struct {
			code int
			at   time.Time
		}
		seen := make(chan closeSeen, clients)
		for range clients {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/ws", nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { ws.Close() })
			if _, _, err := ws.ReadMessage(); err != nil { // the greeting
				t.Fatalf("greeting: %v", err)
			}
			go func() {
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						s := closeSeen{code: -1, at: time.Now()}
						if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
							s.code = ce.Code
						}
						seen <- s
						return
					}
				}
			}()
		}

		p.signal(t, syscall.SIGTERM)
		var at []time.Time
		for range clients {
			s := <-seen
			if s.code != websocket.CloseGoingAway {
				t.Errorf("client saw close %d, want 1001", s.code)
			}
			at = append(at, s.at)
		}
		if code := p.waitExit(t, 10*time.Second); code != 0 {
			t.Errorf("exit code = %d, want 0\n%s", code, p.log())
		}
		// Six closes over 500ms: about 400ms first to last. Only the order
		// of magnitude matters; all at once would be a few ms.
		spread := slices.MaxFunc(at, time.Time.Compare).Sub(slices.MinFunc(at, time.Time.Compare))
		if spread < 100*time.Millisecond {
			t.Errorf("closes spread over %v, want roughly 400ms", spread)
		}
		if !strings.Contains(p.log(), "component=wsecho") {
			t.Errorf("log lines lack component=wsecho:\n%s", p.log())
		}
	})

	t.Run("second signal exits at once", func(t *testing.T) {
		p := startBinary(t, bin, "--listen", "127.0.0.1:0", "--id", "backend2", "--close-spread", "1m")
		for range 3 {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/", nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { ws.Close() })
		}
		p.signal(t, syscall.SIGTERM)
		waitGone(t, p.addr)
		p.signal(t, syscall.SIGINT)
		if code := p.waitExit(t, 5*time.Second); code != exitError {
			t.Errorf("exit code = %d, want %d\n%s", code, exitError, p.log())
		}
	})
}

// waitGone waits until addr refuses connections, i.e. the listener is closed.
func waitGone(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
