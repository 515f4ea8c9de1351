package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
	"github.com/wsctl/wsctl/spec"
)

// ServiceName is the Consul service every agent registers, with a TTL
// check its session is bound to.
const ServiceName = "wsctl-agent"

// renewals is how many times the check is renewed within its TTL: a
// renewal that fails or hangs leaves three more before Consul ends the
// session.
const renewals = 4

// Defaults of a Member.
const (
	// PublishInterval is the least time between two writes of one
	// server's progress.
	PublishInterval = 200 * time.Millisecond
	// minQuery is the least time between two reads of the prefix, so a
	// busy fleet's progress writes cost each agent a few reads a second.
	minQuery = 100 * time.Millisecond
	retry    = time.Second
	// lockDelay is the agent's session's lock-delay: its keys are free
	// again soon after it ends, since only this agent may take them (an
	// ACL says so), and it knows when it lost them.
	lockDelay = time.Millisecond
)

// Member is one agent in the fleet. Create it with NewMember; Run it once.
type Member struct {
	client *api.Client
	store  *intent.Consul
	prefix string
	id     string
	// ttl is how long the agent's check stays passing without a renewal:
	// how soon a dead agent's session ends (spec consul.agent_ttl).
	ttl time.Duration
	// node is the Consul agent's node name, found by join.
	node string
	log  *slog.Logger

	view atomic.Pointer[View]
	// current is set by a successful read of the prefix, cleared by a
	// failed one (see Current).
	current atomic.Bool
	session atomic.Value // string

	mu      sync.Mutex
	pending map[haproxy.Ref]Progress // not yet written
	written map[haproxy.Ref]Progress
	wake    chan struct{}
	// recheck asks keepAlive to look at the session and the announcement
	// now: a view did not show the announcement held by the session, or
	// the check is gone.
	recheck chan struct{}
}

// NewMember returns the member for an agent talking to client (addr names
// it in messages) under kvPrefix; id "" becomes the Consul agent's node
// name when Run starts. ttl is the agent's check TTL (0:
// spec.DefaultAgentTTL).
func NewMember(client *api.Client, addr, kvPrefix, id string, ttl time.Duration, log *slog.Logger) *Member {
	if log == nil {
		log = slog.Default()
	}
	if ttl <= 0 {
		ttl = spec.DefaultAgentTTL
	}
	m := &Member{
		client: client, store: intent.NewConsulWith(client, addr, kvPrefix), prefix: kvPrefix, id: id, ttl: ttl,
		log:     log.With("component", "fleet"),
		pending: map[haproxy.Ref]Progress{}, written: map[haproxy.Ref]Progress{},
		wake: make(chan struct{}, 1), recheck: make(chan struct{}, 1),
	}
	m.session.Store("")
	return m
}

// ID is the agent's id in the fleet ("" until Run has found it).
func (m *Member) ID() string { return m.id }

// View is the latest read of the fleet; nil before the first.
func (m *Member) View() *View { return m.view.Load() }

// Current reports whether the latest read of the fleet's keys succeeded:
// View is then what Consul held at that read, with every change since on
// its way in a blocking query's answer. False before the first read and
// while reads fail (Consul unreachable, a token refused): a caller that
// must not act on stale intents reads them itself then.
func (m *Member) Current() bool { return m.current.Load() }

// Publish queues p (its Agent and Updated are filled in) to be written when
// it differs from the last report on the server, at most every
// PublishInterval.
func (m *Member) Publish(p Progress) {
	p.Agent = m.id
	m.mu.Lock()
	if w, ok := m.written[p.Ref()]; ok && w.same(p) {
		delete(m.pending, p.Ref())
		m.mu.Unlock()
		return
	}
	m.pending[p.Ref()] = p
	m.mu.Unlock()
	m.poke(m.wake)
}

// Forget queues the deletion of the agent's report on ref, written with
// the next reports: the server is back in service and no operation is in
// force, so the report would only go stale (`wsctl ready --fleet` takes no
// report as done).
func (m *Member) Forget(ref haproxy.Ref) {
	m.mu.Lock()
	_, written := m.written[ref]
	if !written {
		delete(m.pending, ref)
		m.mu.Unlock()
		return
	}
	m.pending[ref] = Progress{Agent: m.id, Backend: ref.Backend, Server: ref.Server, gone: true}
	m.mu.Unlock()
	m.poke(m.wake)
}

// Run joins the fleet (resolving the id, registering the service and its
// check, creating the session, announcing), then keeps the check passing
// and the announcement in place, follows the prefix and sends every new
// View on views (a newer one replaces one not yet received), and writes
// progress, until ctx ends.
// It then leaves: the session is destroyed, which deletes its keys, and the
// service deregistered. It fails only when the id cannot be found.
func (m *Member) Run(ctx context.Context, views chan *View) error {
	if m.id == "" {
		name, err := m.client.Agent().NodeName()
		if err != nil {
			return fmt.Errorf("fleet: agent id from the Consul agent's node name: %w", err)
		}
		m.id, m.node = name, name
	}
	if err := haproxy.ValidName(m.id); err != nil {
		return fmt.Errorf("fleet: agent id %q: %w", m.id, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { m.keepAlive(ctx) })
	wg.Go(func() { m.renew(ctx) })
	wg.Go(func() { m.follow(ctx, views) })
	wg.Go(func() { m.publish(ctx) })
	wg.Wait()
	m.leave()
	return nil
}

func (m *Member) serviceID() string { return ServiceName + "-" + m.id }
func (m *Member) checkID() string   { return "service:" + m.serviceID() }

// join registers the service and a new session and announces the agent;
// every report is written again under the new session.
func (m *Member) join(ctx context.Context) error {
	if m.node == "" {
		node, err := m.client.Agent().NodeName()
		if err != nil {
			return fmt.Errorf("fleet: the Consul agent's node name: %w", err)
		}
		m.node = node
	}
	reg := &api.AgentServiceRegistration{
		ID: m.serviceID(), Name: ServiceName, Meta: map[string]string{"agent": m.id},
		Check: &api.AgentServiceCheck{CheckID: m.checkID(), TTL: m.ttl.String(), Status: api.HealthPassing,
			DeregisterCriticalServiceAfter: "1h"},
	}
	if err := m.client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return fmt.Errorf("fleet: register service %s: %w", m.serviceID(), err)
	}
	// Registering again keeps the status of a check that exists: after a
	// crash it is critical, and Consul refuses a session bound to it.
	if err := m.client.Agent().UpdateTTLOpts(m.checkID(), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("fleet: pass check %s: %w", m.checkID(), err)
	}
	id, _, err := m.client.Session().Create(&api.SessionEntry{
		Name: "wsctl-agent " + m.id, Behavior: api.SessionBehaviorDelete, LockDelay: lockDelay,
		NodeChecks: []string{"serfHealth"}, ServiceChecks: []api.ServiceCheck{{ID: m.checkID()}},
	}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("fleet: create session: %w", err)
	}
	if err := m.announce(ctx, id); err != nil {
		_, _ = m.client.Session().Destroy(id, nil)
		return err
	}
	m.session.Store(id)
	m.mu.Lock()
	for ref, p := range m.written {
		if _, ok := m.pending[ref]; !ok {
			m.pending[ref] = p
		}
	}
	clear(m.written)
	m.mu.Unlock()
	m.rewake()
	m.log.Info("joined the fleet", "agent", m.id, "session", id)
	return nil
}

// errHeld is an announcement held by another session.
var errHeld = errors.New("held by another session")

// announce acquires the agent's key with session. A key held by a session
// an earlier run of this agent left (killed before it could leave) is
// taken over: that session is bound to the same check on the same node,
// which this run renews, so Consul would never end it.
func (m *Member) announce(ctx context.Context, session string) error {
	b, _ := json.Marshal(Announcement{Agent: m.id, Since: time.Now().UTC()})
	for range 2 {
		ok, _, err := m.client.KV().Acquire(&api.KVPair{Key: m.announcementKey(), Value: b, Session: session}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("fleet: announce: %w", err)
		}
		if ok {
			return nil
		}
		taken, err := m.takeOver(ctx)
		if err != nil {
			return fmt.Errorf("fleet: announce: %w", err)
		}
		if !taken {
			return fmt.Errorf("fleet: announce: %s is %w: is agent id %q in use twice?", m.announcementKey(), errHeld, m.id)
		}
		sleep(ctx, 10*lockDelay) // Consul refuses the key until the lock-delay passes
	}
	return fmt.Errorf("fleet: announce: %s is %w", m.announcementKey(), errHeld)
}

// takeOver destroys the session holding the announcement when an earlier
// run of this agent left it: on this Consul node, bound to this agent's
// check. It reports whether it did.
func (m *Member) takeOver(ctx context.Context) (bool, error) {
	p, _, err := m.client.KV().Get(m.announcementKey(), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil || p == nil || p.Session == "" {
		return p != nil && p.Session == "", err // released meanwhile: try again
	}
	s, _, err := m.client.Session().Info(p.Session, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil || s == nil {
		return s == nil && err == nil, err // ended meanwhile: try again
	}
	if s.Node != m.node || !slices.ContainsFunc(s.ServiceChecks, func(c api.ServiceCheck) bool { return c.ID == m.checkID() }) {
		return false, nil
	}
	if _, err := m.client.Session().Destroy(s.ID, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("end the session %s an earlier run left: %w", s.ID, err)
	}
	m.log.Warn("took the announcement over from the session an earlier run of this agent left", "agent", m.id, "session", s.ID)
	return true, nil
}

// heldNot reports whether an announce failed because Consul says the
// session does not hold (invalid, or the key held by another), not
// because Consul could not be asked.
func heldNot(err error) bool {
	var se api.StatusError
	return errors.Is(err, errHeld) || errors.As(err, &se)
}

func (m *Member) announcementKey() string { return m.prefix + AgentsPrefix + m.id }

// keepAlive joins, then makes sure the announcement stands, every
// renewal interval and whenever a view or renew asks; a session or an
// announcement that no longer holds makes it join again. The check alone
// does not tell: after Consul stalled for longer than the TTL, it
// invalidated the session and deleted its keys, yet renewals of the check
// succeed again. Renewals have a goroutine of their own (renew), so a slow
// read or join here never delays them.
func (m *Member) keepAlive(ctx context.Context) {
	every := m.ttl / renewals
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		wait := every
		if m.session.Load().(string) == "" {
			if err := m.join(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("join the fleet", "err", err)
				wait = min(every, retry)
			}
		} else if !m.announced(ctx) && ctx.Err() == nil {
			m.dropSession()
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.recheck:
		}
	}
}

// renew keeps the agent's check passing while it holds a session,
// renewals times within the TTL, each call bounded by the interval so a
// hung one gives way to the next on a new connection. A renewal that
// fails (Consul unreachable, slow, overloaded) is only retried: the
// session stands until Consul itself ends it, which keepAlive notices,
// so a stall shorter than the TTL costs nothing. Only Consul saying the
// check is gone (deregistered, or its agent lost its state) makes the
// agent join again at once: Consul ended the session with it.
func (m *Member) renew(ctx context.Context) {
	every := m.ttl / renewals
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		session := m.session.Load().(string)
		if session == "" {
			continue // keepAlive is joining, which passes the check
		}
		call, cancel := context.WithTimeout(ctx, every)
		err := m.client.Agent().UpdateTTLOpts(m.checkID(), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(call))
		cancel()
		var se api.StatusError
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.As(err, &se) && se.Code == http.StatusNotFound:
			m.log.Error("the fleet check is gone; joining again", "err", err)
			if m.session.CompareAndSwap(session, "") {
				m.destroy(session)
			}
			m.poke(m.recheck)
		default:
			m.log.Warn("renew the fleet check; retrying, the session holds until its TTL passes", "ttl", m.ttl, "err", err)
		}
	}
}

// announced makes sure the agent's announcement is in place, held by its
// session, announcing again when it is gone (someone deleted it); it
// reports false when the session no longer holds (Consul invalidated it).
// It costs a read only when the latest view does not show the
// announcement, which may be a view older than the session.
func (m *Member) announced(ctx context.Context) bool {
	session := m.session.Load().(string)
	if v := m.view.Load(); v != nil && v.Agents[m.id].Session == session {
		return true
	}
	p, _, err := m.client.KV().Get(m.announcementKey(), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		m.log.Error("read the announcement", "err", err)
		return true // Consul unreachable or slow: look again at the next tick
	}
	var a Announcement
	if p != nil && p.Session == session && json.Unmarshal(p.Value, &a) == nil && a.Agent == m.id {
		return true
	}
	if err := m.announce(ctx, session); err != nil {
		if !heldNot(err) {
			m.log.Error("announce again", "err", err)
			return true // not Consul's answer: the session may hold yet
		}
		m.log.Error("the announcement is gone and the session does not hold; joining again", "err", err)
		return false
	}
	m.log.Warn("the announcement was gone or changed; announced again", "agent", m.id, "session", session)
	return true
}

// dropSession forgets a session that no longer holds (it is destroyed, in
// case it still exists), so keepAlive joins again.
func (m *Member) dropSession() {
	if id := m.session.Swap("").(string); id != "" {
		m.destroy(id)
	}
}

func (m *Member) destroy(session string) { _, _ = m.client.Session().Destroy(session, nil) }

// poke sends on a wake-up channel without waiting: one pending wake-up is
// enough.
func (m *Member) poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// follow reads the prefix with blocking queries and sends each new View.
func (m *Member) follow(ctx context.Context, views chan *View) {
	var index uint64
	for ctx.Err() == nil {
		start := time.Now()
		pairs, meta, err := m.client.KV().List(m.prefix, (&api.QueryOptions{WaitIndex: index}).WithContext(ctx))
		if err != nil {
			m.current.Store(false)
			if ctx.Err() == nil {
				m.log.Error("read the fleet's keys", "err", err)
				sleep(ctx, retry)
			}
			index = 0
			continue
		}
		if meta.LastIndex < index {
			index = 0 // Consul's index went back (a restored snapshot)
		} else {
			index = meta.LastIndex
		}
		v := parse(m.prefix, m.store, pairs, index)
		m.view.Store(v)
		m.current.Store(true)
		if s := m.session.Load().(string); s != "" && v.Agents[m.id].Session != s {
			m.poke(m.recheck)
		}
		select {
		case views <- v:
		case <-ctx.Done():
			return
		default:
			// The loop is busy: drop an older view it has not taken.
			select {
			case <-views:
			default:
			}
			select {
			case views <- v:
			case <-ctx.Done():
				return
			}
		}
		sleep(ctx, minQuery-time.Since(start))
	}
}

// publish writes the pending reports under the session, all of them in
// one transaction (txnOps keys at a time) at most every PublishInterval:
// an agent writes the KV at most 1/PublishInterval times a second however
// many servers it reports on. A report marked gone is deleted instead.
func (m *Member) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		session := m.session.Load().(string)
		if session == "" {
			sleep(ctx, retry)
			m.rewake()
			continue
		}
		m.mu.Lock()
		batch := slices.SortedFunc(maps.Values(m.pending), func(a, b Progress) int { return strings.Compare(a.Ref().String(), b.Ref().String()) })
		clear(m.pending)
		m.mu.Unlock()
		for chunk := range slices.Chunk(batch, txnOps) {
			err := m.write(ctx, session, chunk)
			m.mu.Lock()
			for _, p := range chunk {
				switch _, newer := m.pending[p.Ref()]; {
				case err != nil && !newer:
					m.pending[p.Ref()] = p
				case err != nil:
				case p.gone:
					delete(m.written, p.Ref())
				default:
					m.written[p.Ref()] = p
				}
			}
			m.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				m.log.Error("publish progress", "servers", len(chunk), "err", err)
			}
		}
		sleep(ctx, PublishInterval)
		m.rewake()
	}
}

// txnOps is how many reports go into one transaction: Consul takes at most
// 128 operations in one.
const txnOps = 64

// write writes (or deletes) reports in one transaction, the reports locked
// by session; a lock refused means the session is gone (Consul invalidated
// it), so the agent joins again.
func (m *Member) write(ctx context.Context, session string, reports []Progress) error {
	ops := make(api.TxnOps, 0, len(reports))
	now := time.Now().UTC()
	for _, p := range reports {
		key := progressKey(m.prefix, p.Ref(), m.id)
		if p.gone {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: key}})
			continue
		}
		p.Updated = now
		b, _ := json.Marshal(p)
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: key, Value: b, Session: session}})
	}
	ok, resp, _, err := m.client.Txn().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		var errs []string
		if resp != nil {
			for _, e := range resp.Errors {
				errs = append(errs, e.What)
			}
		}
		m.dropSession()
		return fmt.Errorf("the session is gone: %s", strings.Join(errs, "; "))
	}
	return nil
}

// rewake makes publish look again when reports are pending.
func (m *Member) rewake() {
	m.mu.Lock()
	n := len(m.pending)
	m.mu.Unlock()
	if n > 0 {
		m.poke(m.wake)
	}
}

// leave destroys the session (deleting the agent's keys) and deregisters
// the service, with a short deadline of its own: Run's context is over.
func (m *Member) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if id := m.session.Swap("").(string); id != "" {
		_, _ = m.client.Session().Destroy(id, (&api.WriteOptions{}).WithContext(ctx))
	}
	_ = m.client.Agent().ServiceDeregisterOpts(m.serviceID(), (&api.QueryOptions{}).WithContext(ctx))
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
