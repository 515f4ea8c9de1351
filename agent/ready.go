package agent

// notifyReady calls Config.Ready once the first complete sync is done, and
// never again: a service manager wants to hear "started" once.
func (a *Agent) notifyReady() {
	if a.cfg.Ready == nil || a.metrics.lastSync.Load() == 0 {
		return
	}
	ready := a.cfg.Ready
	a.cfg.Ready = nil
	ready()
}
