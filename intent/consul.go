package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/spec"
)

// Consul keeps intents in Consul KV, one key per server:
// <kv_prefix>intents/<backend>/<server>, the value the intent as JSON. Every
// load balancer's agent reads the same keys.
type Consul struct {
	kv     *api.KV
	prefix string
	addr   string
}

// NewConsul returns the KV store for the spec's Consul settings.
func NewConsul(c spec.Consul) (*Consul, error) {
	client, addr, err := consul.NewClient(c)
	if err != nil {
		return nil, err
	}
	return NewConsulWith(client, addr, c.KVPrefix), nil
}

// Prefix is where the intents live under a spec's kv_prefix.
const Prefix = "intents/"

// NewConsulWith returns the KV store under kvPrefix+Prefix on a client
// already built; addr names Consul in messages.
func NewConsulWith(client *api.Client, addr, kvPrefix string) *Consul {
	return &Consul{kv: client.KV(), prefix: kvPrefix + Prefix, addr: addr}
}

// Decode reads an intent from a KV pair under the prefix; ok is false for
// a foreign or damaged value, never acted on.
func (c *Consul) Decode(p *api.KVPair) (Intent, bool) {
	var i Intent
	if json.Unmarshal(p.Value, &i) != nil || i.Validate() != nil || c.key(i.Ref()) != p.Key {
		return Intent{}, false
	}
	return i, true
}

// Where names the KV prefix and the Consul address.
func (c *Consul) Where() string { return fmt.Sprintf("consul %s kv %s", c.addr, c.prefix) }

func (c *Consul) key(r haproxy.Ref) string { return c.prefix + r.Backend + "/" + r.Server }

// Load lists the prefix.
func (c *Consul) Load(ctx context.Context) (map[haproxy.Ref]Intent, error) {
	pairs, _, err := c.kv.List(c.prefix, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.wrap(err, "key read on "+c.prefix)
	}
	out := map[haproxy.Ref]Intent{}
	for _, p := range pairs {
		if i, ok := c.Decode(p); ok {
			out[i.Ref()] = i
		}
	}
	return out, nil
}

// Put writes the server's key.
func (c *Consul) Put(ctx context.Context, i Intent) error {
	if err := i.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(i)
	if err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	if _, err := c.kv.Put(&api.KVPair{Key: c.key(i.Ref()), Value: b}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.wrap(err, "key write on "+c.key(i.Ref()))
	}
	return nil
}

// ErrConflict is returned by Swap when the key changed since it was read.
var ErrConflict = errors.New("the intent changed meanwhile")

// Get returns the server's intent and the key's modify index (0: no key;
// a damaged value reads as no intent with the key's index).
func (c *Consul) Get(ctx context.Context, r haproxy.Ref) (*Intent, uint64, error) {
	p, _, err := c.kv.Get(c.key(r), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, 0, c.wrap(err, "key read on "+c.key(r))
	}
	if p == nil {
		return nil, 0, nil
	}
	var i Intent
	if json.Unmarshal(p.Value, &i) != nil || i.Validate() != nil || i.Ref() != r {
		return nil, p.ModifyIndex, nil
	}
	return &i, p.ModifyIndex, nil
}

// Swap writes i (or, nil, deletes ref's intent) with check-and-set against
// index, the key's modify index when read (0: it must not exist): two
// operators at once never overwrite each other unseen (ErrConflict).
func (c *Consul) Swap(ctx context.Context, ref haproxy.Ref, i *Intent, index uint64) error {
	var (
		ok  bool
		err error
	)
	opts := (&api.WriteOptions{}).WithContext(ctx)
	if i == nil {
		ok, _, err = c.kv.DeleteCAS(&api.KVPair{Key: c.key(ref), ModifyIndex: index}, opts)
	} else {
		if verr := i.Validate(); verr != nil {
			return verr
		}
		b, merr := json.Marshal(i)
		if merr != nil {
			return fmt.Errorf("intent: %w", merr)
		}
		ok, _, err = c.kv.CAS(&api.KVPair{Key: c.key(ref), Value: b, ModifyIndex: index}, opts)
	}
	if err != nil {
		return c.wrap(err, "key write on "+c.key(ref))
	}
	if !ok {
		return fmt.Errorf("intent: %s: %w; try again", c.key(ref), ErrConflict)
	}
	return nil
}

// ErrDenied is returned when Consul's ACLs refuse the token.
var ErrDenied = errors.New("permission denied by Consul's ACLs")

// wrap names Consul and, for an ACL refusal, what the token lacks.
func (c *Consul) wrap(err error, need string) error {
	if strings.Contains(err.Error(), "Permission denied") || strings.Contains(err.Error(), "ACL not found") {
		return fmt.Errorf("intent: consul %s: %w: the token (CONSUL_HTTP_TOKEN or consul.token_file) needs %s: %v", c.addr, ErrDenied, need, err)
	}
	return fmt.Errorf("intent: consul %s: %w", c.addr, err)
}

// Delete removes the server's key.
func (c *Consul) Delete(ctx context.Context, r haproxy.Ref) error {
	if err := (Intent{Backend: r.Backend, Server: r.Server, State: haproxy.Drain}).Validate(); err != nil {
		return err
	}
	if _, err := c.kv.Delete(c.key(r), (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.wrap(err, "key write on "+c.key(r))
	}
	return nil
}
