package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wsctl/wsctl/proxy"
	"github.com/wsctl/wsctl/runtime"
)

// StructureChanged reports whether two HAProxy configs differ in anything
// but their `server` lines, comments and blank lines: only such a change
// needs a reload, since servers of existing backends are added, removed and
// changed at runtime. A missing old config (nil) counts as a change.
func StructureChanged(old, new []byte) bool {
	if old == nil {
		return true
	}
	return !bytes.Equal(withoutServers(old), withoutServers(new))
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

// reload validates text, writes it and reloads HAProxy, unless a reload
// happened less than ReloadInterval ago: then it returns how long to wait.
// A rejected config is logged and counted, and the old one stays.
func (a *Agent) reload(ctx context.Context, text []byte) time.Duration {
	if since := time.Since(a.lastReload); !a.lastReload.IsZero() && since < a.cfg.ReloadInterval {
		a.log.Info("structure change postponed: reload rate limit", "wait", a.cfg.ReloadInterval-since)
		return a.cfg.ReloadInterval - since
	}
	if bytes.Equal(text, a.rejected) {
		return 0 // refused already: say it once, not at every sync
	}
	if err := a.io.validate(ctx, proxy.HAProxyBinary, text); err != nil {
		a.metrics.ValidationFailures.Add(1)
		a.log.Error("new config rejected; keeping the running one", "err", err)
		a.rejected = text
		return 0
	}
	a.rejected = nil
	_, err := a.io.write(a.cfg.ConfigFile, text)
	a.metrics.configWritten(err)
	if err != nil {
		a.metrics.ReloadErrors.Add(1)
		a.log.Error("write config", "err", err)
		return a.io.retry
	}
	a.metrics.ConfigWrites.Add(1)
	a.lastReload = time.Now()
	// HAProxy may have been restarted behind the agent's back: ask which
	// worker runs now rather than trust the pid of the last Dial.
	oldPid := a.rt.Info().Pid
	if cur, err := a.io.dial(ctx, a.spec.HAProxy.AdminSocket, time.Second); err == nil {
		oldPid = cur.Info().Pid
	}
	before, err := a.rt.Servers(ctx, "")
	if err != nil {
		a.metrics.RuntimeErrors.Add(1, "", opList)
		a.log.Error("read server states before the reload; they will not be restored", "err", err)
	}
	a.saveServerState(ctx)
	rt, err := a.masterReload(ctx, oldPid)
	if err != nil {
		a.metrics.ReloadErrors.Add(1)
		a.log.Error("reload", "err", err)
		return a.io.retry
	}
	a.rt = rt
	a.loaded = text
	a.metrics.Reloads.Add(1)
	a.log.Info("reloaded", "old_pid", oldPid, "pid", rt.Info().Pid)
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
func (a *Agent) restoreStates(ctx context.Context, before []runtime.ServerStatus) {
	const forced = runtime.FlagForcedDrain | runtime.FlagForcedMaint
	for _, old := range before {
		// A `disabled` server's MAINT came from the old config: the new
		// one decides.
		if old.Flags&forced == 0 || old.Flags.Disabled() {
			continue
		}
		cur, err := a.rt.Server(ctx, old.Backend, old.Server)
		if err != nil || cur.Admin != runtime.Ready {
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

// masterReload asks the master CLI for a reload (HAProxy 3.0 reports a
// config that fails to load, with HAProxy's messages) and waits until the
// admin socket answers from a worker other than oldPid: 2.6 reports
// nothing, and on any version the new worker is what the agent talks to.
func (a *Agent) masterReload(ctx context.Context, oldPid int64) (Runtime, error) {
	master := a.spec.HAProxy.MasterSocket
	if master == "" {
		return nil, errors.New("the spec has no haproxy.master_socket to reload through")
	}
	if err := a.io.reload(ctx, master, a.cfg.ReloadTimeout); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(a.cfg.ReloadTimeout)
	for {
		rt, err := a.io.dial(ctx, a.spec.HAProxy.AdminSocket, time.Second)
		if err == nil && rt.Info().Pid != oldPid {
			return rt, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("worker %d still answers", oldPid)
			}
			return nil, fmt.Errorf("no new worker after %s: %w", a.cfg.ReloadTimeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
