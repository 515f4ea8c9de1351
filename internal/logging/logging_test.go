package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// buffer is a bytes.Buffer the handler's timers may write to.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the lines written so far and forgets them.
func (b *buffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(b.b.String())
	b.b.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// noTime drops the time, so lines compare.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func newRepeats(interval time.Duration) (*slog.Logger, *RepeatsHandler, *buffer) {
	var buf buffer
	h := Repeats(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime}), interval)
	return slog.New(h), h, &buf
}

func want(t *testing.T, what string, got []string, lines ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(lines, "\n") {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, lines)
	}
}

// TestRepeatsOncePerInterval: an error every second is one line, then one
// line a minute with the count; an interval without it forgets it.
func TestRepeatsOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, h, buf := newRepeats(time.Minute)
		log = log.With("component", "consul")
		fail := func(n int) {
			log.Warn("query failed", "failures", n, "retry_in", time.Second, "err", errors.New("connection refused"))
		}
		fail(1)
		want(t, "first", buf.lines(), `level=WARN msg="query failed" component=consul failures=1 retry_in=1s err="connection refused"`)
		for n := 2; n <= 59; n++ {
			time.Sleep(time.Second)
			fail(n)
		}
		log.Info("progress") // below Warn: always passed on
		want(t, "within the interval", buf.lines(), `level=INFO msg=progress component=consul`)
		time.Sleep(2 * time.Second) // the interval ends
		synctest.Wait()
		want(t, "end of the interval", buf.lines(), `level=WARN msg="query failed" component=consul failures=59 retry_in=1s err="connection refused" repeated=58`)
		fail(60)
		time.Sleep(time.Minute)
		synctest.Wait()
		want(t, "second interval", buf.lines(), `level=WARN msg="query failed" component=consul failures=60 retry_in=1s err="connection refused" repeated=1`)
		time.Sleep(time.Minute) // a quiet interval: forgotten
		synctest.Wait()
		want(t, "quiet interval", buf.lines())
		fail(1)
		want(t, "after a quiet interval", buf.lines(), `level=WARN msg="query failed" component=consul failures=1 retry_in=1s err="connection refused"`)
		h.Flush()
	})
}

// TestRepeatsChangedError: another error at the same place is logged at
// once, after the count of the one it replaces; other loggers' attributes
// and other messages are other keys.
func TestRepeatsChangedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, h, buf := newRepeats(time.Hour)
		log.Error("list servers", "backend", "ws", "err", "refused")
		log.Error("list servers", "backend", "ws", "err", "refused")
		log.Error("list servers", "backend", "api", "err", "refused")
		log.With("component", "x").Error("list servers", "backend", "ws", "err", "refused")
		log.Error("list servers", "backend", "ws", "err", "timeout")
		want(t, "lines", buf.lines(),
			`level=ERROR msg="list servers" backend=ws err=refused`,
			`level=ERROR msg="list servers" backend=api err=refused`,
			`level=ERROR msg="list servers" component=x backend=ws err=refused`,
			`level=ERROR msg="list servers" backend=ws err=refused repeated=1`,
			`level=ERROR msg="list servers" backend=ws err=timeout`,
		)
		log.Error("list servers", "backend", "ws", "err", "timeout")
		log.Error("list servers", "backend", "ws", "err", "timeout")
		h.Flush()
		want(t, "flush", buf.lines(), `level=ERROR msg="list servers" backend=ws err=timeout repeated=2`)
	})
}

// TestRepeatsOff: a zero interval passes every record on.
func TestRepeatsOff(t *testing.T) {
	log, _, buf := newRepeats(0)
	log.Error("x")
	log.Error("x")
	if got := len(buf.lines()); got != 2 {
		t.Errorf("%d lines, want 2", got)
	}
}

func TestNewHandler(t *testing.T) {
	var buf bytes.Buffer
	h, err := NewHandler(&buf, FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Error("list servers", "backend", "ws")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "list servers" || rec["backend"] != "ws" {
		t.Errorf("json line %q: %v", buf.String(), err)
	}
	buf.Reset()
	if h, err = NewHandler(&buf, FormatText, nil); err != nil {
		t.Fatal(err)
	}
	slog.New(h).Info("x")
	if !strings.Contains(buf.String(), "level=INFO msg=x") {
		t.Errorf("text line %q", buf.String())
	}
	if _, err := NewHandler(&buf, "xml", nil); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("xml: %v", err)
	}
}

// TestWarnings: a one-shot command's logger writes warnings without a
// time and nothing below them.
func TestWarnings(t *testing.T) {
	var b strings.Builder
	log := Warnings(&b)
	log.Info("not shown")
	log.Warn("left out", "addr", "x")
	if got, want := b.String(), "level=WARN msg=\"left out\" addr=x\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
