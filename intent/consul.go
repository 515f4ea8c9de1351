package intent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/discovery/consul"
	"github.com/wsctl/wsctl/runtime"
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
	return &Consul{kv: client.KV(), prefix: c.KVPrefix + "intents/", addr: addr}, nil
}

// Where names the KV prefix and the Consul address.
func (c *Consul) Where() string { return fmt.Sprintf("consul %s kv %s", c.addr, c.prefix) }

func (c *Consul) key(r runtime.Ref) string { return c.prefix + r.Backend + "/" + r.Server }

// Load lists the prefix.
func (c *Consul) Load(ctx context.Context) (map[runtime.Ref]Intent, error) {
	pairs, _, err := c.kv.List(c.prefix, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("intent: consul %s: %w", c.addr, err)
	}
	out := map[runtime.Ref]Intent{}
	for _, p := range pairs {
		var i Intent
		if json.Unmarshal(p.Value, &i) != nil || i.Validate() != nil || c.key(i.Ref()) != p.Key {
			continue // not ours, or damaged: never act on it
		}
		out[i.Ref()] = i
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
		return fmt.Errorf("intent: consul %s: %w", c.addr, err)
	}
	return nil
}

// Delete removes the server's key.
func (c *Consul) Delete(ctx context.Context, r runtime.Ref) error {
	if err := (Intent{Backend: r.Backend, Server: r.Server, State: runtime.Drain}).Validate(); err != nil {
		return err
	}
	if _, err := c.kv.Delete(c.key(r), (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("intent: consul %s: %w", c.addr, err)
	}
	return nil
}
