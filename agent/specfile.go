package agent

import (
	"bytes"

	"github.com/wsctl/wsctl/spec"
)

// rereadSpec reads SpecFile and returns the new spec when the file changed
// and loads; nil otherwise (a bad file is logged and counted once). The
// running proxy's sockets and pid file stay those of the first spec.
func (a *Agent) rereadSpec() *spec.Spec {
	text, err := spec.ReadFile(a.cfg.SpecFile)
	if err != nil {
		a.log.Error("read spec", "err", err)
		return nil
	}
	if bytes.Equal(text, a.specText) {
		return nil
	}
	a.specText = text
	s, err := spec.Load(a.cfg.SpecFile)
	if err != nil {
		a.metrics.SpecErrors.Add(1)
		a.log.Error("spec changed but does not load; keeping the old one", "err", err)
		return nil
	}
	s.HAProxy.AdminSocket = a.spec.HAProxy.AdminSocket
	s.HAProxy.MasterSocket = a.spec.HAProxy.MasterSocket
	s.Nginx.PidFile = a.spec.Nginx.PidFile
	a.log.Info("spec changed", "file", a.cfg.SpecFile)
	return s
}
