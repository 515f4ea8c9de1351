package agent

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/wsctl/wsctl/discovery"
	"github.com/wsctl/wsctl/model"
	"github.com/wsctl/wsctl/proxy"
)

// nginxState is what the agent remembers between syncs with the nginx
// target.
type nginxState struct {
	// rejected is the last config nginx -t refused: the same bytes are not
	// validated (nor counted) again.
	rejected []byte
	// pending is set while the file holds a config the master has not
	// confirmed loading (its reload failed), so equal bytes still reload.
	pending bool
}

// syncNginx brings nginx to snap: render, and when the bytes differ from
// the file (or the last reload failed), validate, write and reload, at most
// once per ReloadInterval. It returns how long to wait before trying again,
// else 0. Changes held back by the interval are not lost: the retry renders
// the snapshot current by then.
func (a *Agent) syncNginx(ctx context.Context, snap map[string][]discovery.Instance) time.Duration {
	st := a.nginx
	_, text := a.desired(model.TargetNginx, snap)
	if text == nil {
		return 0
	}
	old, _ := os.ReadFile(a.cfg.ConfigFile)
	if bytes.Equal(old, text) && !st.pending {
		a.done(snap)
		return 0
	}
	if bytes.Equal(text, st.rejected) {
		return 0
	}
	if since := time.Since(a.lastReload); !a.lastReload.IsZero() && since < a.cfg.ReloadInterval {
		a.log.Info("config change postponed: reload rate limit", "wait", a.cfg.ReloadInterval-since)
		return a.cfg.ReloadInterval - since
	}
	if err := a.edges.validate(ctx, proxy.NginxBinary, text); err != nil {
		a.metrics.ValidationFailures.Add(1)
		a.log.Error("new config rejected; keeping the running one", "err", err)
		st.rejected = text
		return 0
	}
	st.rejected = nil
	changed, err := a.edges.write(a.cfg.ConfigFile, text)
	a.metrics.configWritten(err)
	if err != nil {
		a.metrics.ReloadErrors.Add(1)
		a.log.Error("write config", "err", err)
		return a.edges.retry
	}
	if changed {
		a.metrics.ConfigWrites.Add(1)
	}
	st.pending = true
	a.lastReload = time.Now()
	master, err := proxy.ReloadNginx(ctx, a.spec.Nginx.PidFile, a.cfg.ReloadTimeout)
	if err != nil {
		a.metrics.ReloadErrors.Add(1)
		a.log.Error("reload", "err", err)
		return max(a.edges.retry, a.cfg.ReloadInterval)
	}
	st.pending = false
	a.metrics.Reloads.Add(1)
	a.log.Info("reloaded", "master_pid", master)
	a.done(snap)
	return 0
}

// done records snap as applied.
func (a *Agent) done(snap map[string][]discovery.Instance) {
	a.applied = snap
	a.markSynced()
}
