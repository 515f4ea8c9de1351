package agent

import (
	"time"

	"github.com/wsctl/wsctl/internal/sdnotify"
)

// markSynced records a complete sync: for the agent (READY=1) and for the
// metrics, which only report it.
func (a *Agent) markSynced() {
	a.synced = true
	a.metrics.lastSync.Store(time.Now().UnixNano())
}

// notifyReady tells systemd READY=1 once the first complete sync is done,
// and never again: a service manager wants to hear "started" once.
func (a *Agent) notifyReady() {
	if a.readySent || !a.synced {
		return
	}
	a.readySent = true
	a.notify(sdnotify.Ready)
}

// notify sends state to Config.NotifySocket; nothing without one.
func (a *Agent) notify(state string) {
	if err := sdnotify.Notify(a.cfg.NotifySocket, state); err != nil {
		a.log.Error("notify systemd", "err", err)
	}
}
