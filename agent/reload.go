package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/reload"
)

// StructureChanged reports whether two HAProxy configs differ in anything
// but their `server` lines, comments and blank lines: only such a change
// needs a reload, since servers of existing backends are added, removed and
// changed at haproxy. A missing old config (nil) counts as a change.
func StructureChanged(old, new []byte) bool {
	if old == nil {
		return true
	}
	return !bytes.Equal(withoutServers(old), withoutServers(new))
}

// sameStructure reports whether two models differ in their backends'
// servers at most, so their renderings differ in `server` lines only
// (StructureChanged, which stays the judge, of the texts).
func sameStructure(old, new *model.Model) bool {
	if len(old.Backends) != len(new.Backends) {
		return false
	}
	o, n := *old, *new
	o.Backends, n.Backends = nil, nil
	if !reflect.DeepEqual(o, n) {
		return false
	}
	for i := range old.Backends {
		ob, nb := old.Backends[i], new.Backends[i]
		ob.Servers, nb.Servers = nil, nil
		ob.NoneEnabled, nb.NoneEnabled = false, false
		if !reflect.DeepEqual(ob, nb) {
			return false
		}
	}
	return true
}

// withoutServers drops every `server` line (not `default-server`), comment
// and blank line.
func withoutServers(config []byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(config))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] == "server" || strings.HasPrefix(f[0], "#") {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// reload validates text, writes it and reloads HAProxy (reload.Run),
// unless a reload happened less than ReloadInterval ago: then it returns
// how long to wait. A rejected config is logged and counted, and the old
// one stays.
func (a *Agent) reload(ctx context.Context, text []byte) time.Duration {
	if since := time.Since(a.lastReload); !a.lastReload.IsZero() && since < a.cfg.ReloadInterval {
		a.log.Info("structure change postponed: reload rate limit", "wait", a.cfg.ReloadInterval-since)
		return a.cfg.ReloadInterval - since
	}
	if bytes.Equal(text, a.rejected) {
		return 0 // refused already: say it once, not at every sync
	}
	var before []haproxy.ServerStatus
	res, err := reload.Run(ctx, haproxyEdges{a}, text, reload.Options{
		StateFile: a.spec.HAProxy.StateFile,
		Wait:      a.cfg.ReloadTimeout,
		Written: func(bool) {
			a.metrics.configWritten(nil)
			a.metrics.ConfigWrites.Add(1)
			a.lastReload = time.Now()
		},
		Saving: func(ctx context.Context) {
			var err error
			if before, err = a.rt.Servers(ctx, ""); err != nil {
				a.metrics.RuntimeErrors.Add(1, "", opList)
				a.log.Error("read server states before the reload; they will not be restored", "err", err)
			}
		},
		// A state not saved is counted and the reload goes on:
		// restoreStates repairs DRAIN and MAINT afterwards.
		StateError: func(err error) {
			a.metrics.StateErrors.Add(1)
			a.log.Error("save server states before the reload", "file", a.spec.HAProxy.StateFile, "err", err)
		},
	})
	if reload.StoppedAt(err) == reload.StepValidate {
		a.metrics.ValidationFailures.Add(1)
		a.log.Error("new config rejected; keeping the running one", "err", err)
		a.rejected = text
		return 0
	}
	a.rejected = nil
	switch reload.StoppedAt(err) {
	case "":
	case reload.StepWrite:
		a.metrics.configWritten(err)
		fallthrough
	default:
		a.metrics.ReloadErrors.Add(1)
		a.log.Error("reload", "err", err)
		return a.edges.retry
	}
	a.rt = res.Worker
	a.loaded = text
	a.metrics.Reloads.Add(1)
	a.log.Info("reloaded", "old_pid", res.Old, "pid", res.New)
	a.restoreStates(ctx, before)
	a.startHandover()
	return 0
}

// restoreStates sets again, in the new worker, the DRAIN and MAINT that the
// runtime API set in the old one (the operator's and the agent's): a reload
// starts every server from the config. Servers the new config disables or
// no longer has are left as they are. The agent's drains go on in the new
// worker; the sessions already in the old one stay there until they end or
// hard-stop-after.
func (a *Agent) restoreStates(ctx context.Context, before []haproxy.ServerStatus) {
	const forced = haproxy.FlagForcedDrain | haproxy.FlagForcedMaint
	for _, old := range before {
		// A `disabled` server's MAINT came from the old config: the new
		// one decides.
		if old.Flags&forced == 0 || old.Flags.Disabled() {
			continue
		}
		cur, err := a.rt.Server(ctx, old.Backend, old.Server)
		if err != nil || cur.Admin != haproxy.Ready {
			continue
		}
		a.metrics.RuntimeOps.Add(1, old.Backend, opRestore)
		if err := a.rt.SetState(ctx, old.Backend, old.Server, old.Admin); err != nil {
			a.metrics.RuntimeErrors.Add(1, old.Backend, opRestore)
			a.log.Error("restore state after the reload", "server", old.Ref().String(), "state", old.Admin, "err", err)
			continue
		}
		a.log.Info("state restored after the reload", "server", old.Ref().String(), "state", old.Admin)
	}
}

// haproxyEdges is the agent's HAProxy as reload.Run reaches it: through
// the agent's edges, so the unit tests' fakes reload too.
type haproxyEdges struct{ a *Agent }

var _ reload.HAProxy[Runtime] = haproxyEdges{}

// Worker dials the admin socket, briefly: a reload polls it for the new
// worker.
func (h haproxyEdges) Worker(ctx context.Context) (Runtime, error) {
	return h.a.edges.dial(ctx, h.a.spec.HAProxy.AdminSocket, time.Second)
}

func (h haproxyEdges) Reload(ctx context.Context) error {
	master := h.a.spec.HAProxy.MasterSocket
	if master == "" {
		return errors.New("the spec has no haproxy.master_socket to reload through")
	}
	return h.a.edges.reload(ctx, master, h.a.cfg.ReloadTimeout)
}

func (h haproxyEdges) Validate(ctx context.Context, config []byte) error {
	return h.a.edges.validate(ctx, proxy.HAProxyBinary, config)
}

func (h haproxyEdges) Write(config []byte) (bool, error) {
	return h.a.edges.write(h.a.cfg.ConfigFile, config)
}
