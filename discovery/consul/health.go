package consul

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/hashicorp/consul/api"

	"github.com/wsctl/wsctl/spec"
)

// healthEntry is the part of an entry of Consul's /v1/health/service
// answer that toInstances reads. The answer is decoded into these rather
// than into api.ServiceEntry: with 1,000 instances it is over a megabyte
// of JSON, decoded in the path of every registration, and the node's and
// service's tagged addresses, proxy, connect and weights, and every
// check's output and definition, are most of what api.ServiceEntry would
// allocate.
type healthEntry struct {
	// Node is a value: an entry without one reads as a node without a
	// name or address, which toInstances treats alike.
	Node struct {
		Node, Address string
	}
	Service *struct {
		Kind        api.ServiceKind
		ID, Address string
		Port        int
		Tags        []string
		Meta        map[string]string
		CreateIndex uint64
	}
	Checks []struct {
		CheckID, Status string
	}
}

// healthClient asks Consul's health endpoint itself, with the API
// client's configuration (address, scheme, path prefix, TLS, token, basic
// auth, namespace, partition), rather than through api.Client.Raw().Query,
// which decodes with encoding/json: with 1,000 instances that decode took
// ~10 ms of every registration's path (16 ms for a dev agent's indented
// answer), goccy/go-json's ~2 ms (docs/architecture.md, "Dependencies").
type healthClient struct {
	cfg api.Config // after api.NewClient filled it in (HttpClient included)
}

// maxHealthAnswer bounds one answer: about 1,300 bytes an instance, so
// room for over 100,000 instances; a larger answer is refused, not read.
const maxHealthAnswer = 128 << 20

// healthService returns every instance of svc's service (passing or not),
// as Health().ServiceMultipleTags(svc.Service, svc.Tags, false, q) does
// but with only the fields toInstances reads (see healthEntry), decoding
// the whole answer: the one-shot path (Once). A watch decodes only what
// changed (see answer).
func healthService(h *healthClient, svc spec.ConsulService, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	body, _, meta, err := h.fetch(svc, q, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	raw, err := decodeHealth(body)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*api.ServiceEntry, 0, len(raw))
	for i := range raw {
		if e := raw[i].serviceEntry(svc); e != nil {
			out = append(out, e)
		}
	}
	return out, meta, nil
}

// serviceEntry is e as the API client would have decoded it, with the
// fields toInstances reads, or nil when e has no service or lacks one of
// svc's tags. Consul filters by the tags; they are matched here again, as
// Consul matches them (every tag, case-insensitively), so an answer is
// held to them whatever the server did.
func (e *healthEntry) serviceEntry(svc spec.ConsulService) *api.ServiceEntry {
	s := e.Service
	if s == nil || !hasTags(s.Tags, svc.Tags) {
		return nil
	}
	entry := &api.ServiceEntry{
		Service: &api.AgentService{
			Kind: s.Kind, ID: s.ID, Service: svc.Service, Address: s.Address, Port: s.Port,
			Tags: s.Tags, Meta: s.Meta, CreateIndex: s.CreateIndex,
		},
		Node:   &api.Node{Node: e.Node.Node, Address: e.Node.Address},
		Checks: make(api.HealthChecks, len(e.Checks)),
	}
	for i, c := range e.Checks {
		entry.Checks[i] = &api.HealthCheck{CheckID: c.CheckID, Status: c.Status}
	}
	return entry
}

// decodeHealth decodes a whole answer.
func decodeHealth(body []byte) ([]healthEntry, error) {
	var raw []healthEntry
	if err := gojson.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode the answer: %w", err)
	}
	return raw, nil
}

// fetch runs GET /v1/health/service/<service> with svc's tags and q's
// datacenter, staleness, index and wait time, as the API client would send
// them, and returns the answer's body, read whole into buf (grown as
// needed), not decoded, and the length of its common prefix with old,
// measured as it was read (readInto).
func (h *healthClient) fetch(svc spec.ConsulService, q *api.QueryOptions, buf, old []byte) (body []byte, same int, meta *api.QueryMeta, err error) {
	params := url.Values{"tag": svc.Tags}
	set := func(key, value, fallback string) {
		if value == "" {
			value = fallback
		}
		if value != "" {
			params.Set(key, value)
		}
	}
	set("dc", q.Datacenter, h.cfg.Datacenter)
	set("ns", q.Namespace, h.cfg.Namespace)
	set("partition", q.Partition, h.cfg.Partition)
	if q.AllowStale {
		params.Set("stale", "")
	}
	if q.WaitIndex != 0 {
		params.Set("index", strconv.FormatUint(q.WaitIndex, 10))
	}
	if q.WaitTime != 0 {
		params.Set("wait", strconv.FormatInt(q.WaitTime.Milliseconds(), 10)+"ms")
	}
	// Built field by field, as the API client does: with a unix socket
	// the "host" is the socket's path.
	u := &url.URL{Scheme: h.cfg.Scheme, Host: h.cfg.Address, Path: h.cfg.PathPrefix + "/v1/health/service/" + svc.Service, RawQuery: params.Encode()}
	req, err := http.NewRequestWithContext(q.Context(), http.MethodGet, u.RequestURI(), nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.URL.Scheme, req.URL.Host, req.Host = u.Scheme, u.Host, u.Host
	if token := cmp.Or(q.Token, h.cfg.Token); token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	if a := h.cfg.HttpAuth; a != nil {
		req.SetBasicAuth(a.Username, a.Password)
	}
	start := time.Now()
	resp, err := h.cfg.HttpClient.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	body, same, err = readInto(buf, io.LimitReader(resp.Body, maxHealthAnswer+1), old)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read the answer: %w", err)
	}
	// Until the whole answer was read, not the headers as the API client
	// has it: a megabyte of body was still coming 4–20 ms after them.
	meta = &api.QueryMeta{RequestTime: time.Since(start)}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, nil, fmt.Errorf("unexpected response code: %d (%s)", resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	if len(body) > maxHealthAnswer {
		return nil, 0, nil, fmt.Errorf("answer over %d MiB: refused", maxHealthAnswer>>20)
	}
	if meta.LastIndex, err = strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); err != nil {
		return nil, 0, nil, fmt.Errorf("answer without a valid X-Consul-Index: %w", err)
	}
	return body, same, meta, nil
}

// readInto is io.ReadAll into buf's array, grown as needed: a watch reads
// every answer into the buffer the last one no longer holds, where
// io.ReadAll allocated twice a megabyte answer's size, for the collector
// to reclaim in the path of the next change. same is the length of the
// common prefix of what it read and old (the watch's last answer),
// compared as the bytes arrive: Consul writes a megabyte answer over
// milliseconds, and the comparison, which decides what is decoded again,
// is then done when the last byte is.
func readInto(buf []byte, r io.Reader, old []byte) (b []byte, same int, err error) {
	b = buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if same == len(b)-n { // no difference yet: compare what came
			end := min(len(b), len(old))
			same += commonPrefix(old[same:end], b[same:end])
		}
		if err == io.EOF {
			return b, same, nil
		}
		if err != nil {
			return b, same, err
		}
	}
}

// hasTags reports whether have holds every tag of want, compared in lower
// case (Consul's serviceTagsFilter).
func hasTags(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.ToLower(h) == strings.ToLower(w) }) {
			return false
		}
	}
	return true
}
