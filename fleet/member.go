package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/intent"
)

// ServiceName is the Consul service every agent registers, with a TTL
// check its session is bound to.
const ServiceName = "wsctl-agent"

// Defaults of a Member.
const (
	// PublishInterval is the least time between two writes of one
	// server's progress.
	PublishInterval = 200 * time.Millisecond
	// CheckTTL is how long the agent's check stays passing without a
	// renewal: how soon a dead agent's session ends.
	CheckTTL = 3 * time.Second
	// minQuery is the least time between two reads of the prefix, so a
	// busy fleet's progress writes cost each agent a few reads a second.
	minQuery = 100 * time.Millisecond
	retry    = time.Second
)

// Member is one agent in the fleet. Create it with NewMember; Run it once.
type Member struct {
	client *api.Client
	store  *intent.Consul
	prefix string
	id     string
	log    *slog.Logger

	view atomic.Pointer[View]
	// current is set by a successful read of the prefix, cleared by a
	// failed one (see Current).
	current atomic.Bool
	session atomic.Value // string

	mu      sync.Mutex
	pending map[haproxy.Ref]Progress // not yet written
	written map[haproxy.Ref]Progress
	wake    chan struct{}
	// recheck asks keepAlive to look at the announcement now: a view
	// did not show it held by the agent's session.
	recheck chan struct{}
}

// NewMember returns the member for an agent talking to client (addr names
// it in messages) under kvPrefix; id "" becomes the Consul agent's node
// name when Run starts.
func NewMember(client *api.Client, addr, kvPrefix, id string, log *slog.Logger) *Member {
	if log == nil {
		log = slog.Default()
	}
	m := &Member{
		client: client, store: intent.NewConsulWith(client, addr, kvPrefix), prefix: kvPrefix, id: id,
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
	select {
	case m.wake <- struct{}{}:
	default:
	}
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
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run joins the fleet (resolving the id, registering the service and its
// check, creating the session, announcing), then keeps the check passing,
// follows the prefix and sends every new View on views (a newer one
// replaces one not yet received), and writes progress, until ctx ends.
// It then leaves: the session is destroyed, which deletes its keys, and the
// service deregistered. It fails only when the id cannot be found.
func (m *Member) Run(ctx context.Context, views chan *View) error {
	if m.id == "" {
		name, err := m.client.Agent().NodeName()
		if err != nil {
			return fmt.Errorf("fleet: agent id from the Consul agent's node name: %w", err)
		}
		m.id = name
	}
	if err := haproxy.ValidName(m.id); err != nil {
		return fmt.Errorf("fleet: agent id %q: %w", m.id, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { m.keepAlive(ctx) })
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
	reg := &api.AgentServiceRegistration{
		ID: m.serviceID(), Name: ServiceName, Meta: map[string]string{"agent": m.id},
		Check: &api.AgentServiceCheck{CheckID: m.checkID(), TTL: CheckTTL.String(), Status: api.HealthPassing,
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
		Name: "wsctl-agent " + m.id, Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond,
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

// announce acquires the agent's key with session.
func (m *Member) announce(ctx context.Context, session string) error {
	b, _ := json.Marshal(Announcement{Agent: m.id, Since: time.Now().UTC()})
	ok, _, err := m.client.KV().Acquire(&api.KVPair{Key: m.announcementKey(), Value: b, Session: session}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("fleet: announce: %w", err)
	}
	if !ok {
		return fmt.Errorf("fleet: announce: %s is held by another session: is agent id %q in use twice?", m.announcementKey(), m.id)
	}
	return nil
}

func (m *Member) announcementKey() string { return m.prefix + AgentsPrefix + m.id }

// keepAlive joins, then renews the check every third of its TTL and makes
// sure the announcement stands; a renewal, a session or an announcement
// that fails makes it join again. The check alone does not tell: after
// Consul stalled for longer than the TTL, it invalidated the session and
// deleted its keys, yet renewals of the check succeed again.
func (m *Member) keepAlive(ctx context.Context) {
	tick := time.NewTicker(CheckTTL / 3)
	defer tick.Stop()
	for {
		if m.session.Load().(string) == "" {
			if err := m.join(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("join the fleet", "err", err)
			}
		} else if err := m.client.Agent().UpdateTTLOpts(m.checkID(), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx)); err != nil && ctx.Err() == nil {
			m.log.Error("renew the fleet check; joining again", "err", err)
			m.dropSession()
			continue
		} else if !m.announced(ctx) && ctx.Err() == nil {
			m.dropSession()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.recheck:
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
		return true // Consul unreachable: the renewals say when to join again
	}
	var a Announcement
	if p != nil && p.Session == session && json.Unmarshal(p.Value, &a) == nil && a.Agent == m.id {
		return true
	}
	if err := m.announce(ctx, session); err != nil {
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
		_, _ = m.client.Session().Destroy(id, nil)
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
			select {
			case m.recheck <- struct{}{}:
			default:
			}
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
		select {
		case m.wake <- struct{}{}:
		default:
		}
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
