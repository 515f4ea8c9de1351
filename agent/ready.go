package agent

import "time"

// markSynced records a complete sync: for the agent (Ready) and for the
// metrics, which only report it.
func (a *Agent) markSynced() {
	a.synced = true
	a.metrics.lastSync.Store(time.Now().UnixNano())
}

// notifyReady calls Config.Ready once the first complete sync is done, and
// never again: a service manager wants to hear "started" once.
func (a *Agent) notifyReady() {
	if a.cfg.Ready == nil || !a.synced {
		return
	}
	ready := a.cfg.Ready
	a.cfg.Ready = nil
	ready()
}
