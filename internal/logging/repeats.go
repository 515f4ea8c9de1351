package logging

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// RepeatedKey is the attribute of the line that reports a record's
// repeats: how many times it came again since its last line.
const RepeatedKey = "repeated"

// ErrorKey is the attribute that holds a record's error, by this module's
// convention.
const ErrorKey = "err"

// RepeatsHandler passes records to another handler, except warnings and
// errors that repeat: a loop retrying every second must not write a line
// every second. The first record with a given key is passed on at once;
// the same key again within the interval is counted, not passed on; when
// the interval ends, the last of them is passed on with RepeatedKey=count,
// and a new interval begins (an interval with no repeat forgets the key, so
// its next occurrence is passed on at once again). A record whose key
// differs from a counted one's only in its error (the attribute ErrorKey: the error changed) reports the
// old one's count at once, then is passed on.
//
// The key is the level, the message, the logger's groups and attributes
// (WithAttrs, WithGroup) and the record's attributes, except numbers,
// durations and times: those are measurements (an attempt count, a retry
// delay) that differ between repeats of the same failure.
//
// Records below slog.LevelWarn are always passed on. A RepeatsHandler and
// the handlers derived from it share their counts; they are safe for
// concurrent use.
type RepeatsHandler struct {
	inner slog.Handler
	// logger is the encoded groups and attributes of the logger.
	logger string
	st     *repeats
}

type repeats struct {
	interval time.Duration
	mu       sync.Mutex
	seen     map[string]*repeat
}

// repeat is one key within its interval.
type repeat struct {
	site  string       // the key without the error
	h     slog.Handler // the inner handler of the record's logger
	last  slog.Record  // the last repeat not passed on
	n     int          // repeats not passed on
	timer *time.Timer
}

var _ slog.Handler = (*RepeatsHandler)(nil)

// Repeats wraps inner; interval <= 0 passes every record on.
func Repeats(inner slog.Handler, interval time.Duration) *RepeatsHandler {
	return &RepeatsHandler{inner: inner, st: &repeats{interval: interval, seen: map[string]*repeat{}}}
}

// Enabled is the inner handler's.
func (h *RepeatsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// WithAttrs returns a handler sharing h's counts whose key includes as.
func (h *RepeatsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.logger)
	for _, a := range as {
		writeAttr(&b, a)
	}
	return &RepeatsHandler{inner: h.inner.WithAttrs(as), logger: b.String(), st: h.st}
}

// WithGroup returns a handler sharing h's counts whose key includes name.
func (h *RepeatsHandler) WithGroup(name string) slog.Handler {
	return &RepeatsHandler{inner: h.inner.WithGroup(name), logger: h.logger + "[" + name + "]", st: h.st}
}

// Handle passes r on, or counts it as a repeat.
func (h *RepeatsHandler) Handle(ctx context.Context, r slog.Record) error {
	st := h.st
	if r.Level < slog.LevelWarn || st.interval <= 0 {
		return h.inner.Handle(ctx, r)
	}
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(0)
	b.WriteString(r.Message)
	b.WriteByte(0)
	b.WriteString(h.logger)
	var errs strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == ErrorKey:
			writeAttr(&errs, a)
		case a.Value.Kind() == slog.KindInt64, a.Value.Kind() == slog.KindUint64, a.Value.Kind() == slog.KindFloat64,
			a.Value.Kind() == slog.KindDuration, a.Value.Kind() == slog.KindTime:
		default:
			writeAttr(&b, a)
		}
		return true
	})
	site := b.String()
	key := site + errs.String()

	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.seen[key]; ok {
		e.n++
		e.last = r.Clone()
		return nil
	}
	for k, e := range st.seen {
		if e.site == site {
			e.timer.Stop()
			delete(st.seen, k)
			e.report()
		}
	}
	e := &repeat{site: site, h: h.inner}
	st.seen[key] = e
	e.timer = time.AfterFunc(st.interval, func() { st.tick(key, e) })
	return h.inner.Handle(ctx, r)
}

// tick ends e's interval: its repeats are reported and a new interval
// begins, or, with none, the key is forgotten.
func (st *repeats) tick(key string, e *repeat) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.seen[key] != e {
		return // reported and dropped meanwhile
	}
	if e.n == 0 {
		delete(st.seen, key)
		return
	}
	e.report()
	e.timer.Reset(st.interval)
}

// report passes on the last repeat with the count, if there was one.
func (e *repeat) report() {
	if e.n == 0 {
		return
	}
	r := e.last.Clone()
	r.AddAttrs(slog.Int(RepeatedKey, e.n))
	e.n = 0
	_ = e.h.Handle(context.Background(), r)
}

// Flush reports the repeats counted so far and forgets every key; a caller
// stopping for good calls it last, so no count is lost.
func (h *RepeatsHandler) Flush() {
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, e := range st.seen {
		e.timer.Stop()
		delete(st.seen, k)
		e.report()
	}
}

func writeAttr(b *strings.Builder, a slog.Attr) {
	b.WriteByte(0)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.Resolve().String())
}
