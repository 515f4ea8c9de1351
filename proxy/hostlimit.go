package proxy

import (
	"fmt"
	"syscall"

	"github.com/wsctl/wsctl/model"
)

// FileLimit returns the hard limit of open files for this process, which a
// proxy started from the same environment inherits.
func FileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("read open-file limit: %w", err)
	}
	return r.Max, nil
}

// FDsNeeded is how many descriptors one proxy process needs to carry the
// model's connections: two per proxied WebSocket plus the proxy's own.
func FDsNeeded(m *model.Model) int {
	if m.Target == model.TargetNginx {
		return m.Nginx.RlimitNofile
	}
	return model.HAProxyFDs(m.MaxConn)
}

// HostProblem reports whether a host whose hard open-file limit is limit can
// run m, and what to do when it cannot.
func HostProblem(m *model.Model, limit uint64) *Problem {
	need := FDsNeeded(m)
	if uint64(need) <= limit {
		return nil
	}
	most := model.ConnectionsWithin(int(limit))
	return &Problem{
		Severity: "error",
		Message: fmt.Sprintf("this host allows %d open files per process but %s needs %d for %d connections (+%d%% headroom, two descriptors each); "+
			"%s would not start or would refuse clients. Lower connections to %d or less, run several proxy processes, or raise the hard limit (LimitNOFILE= in the systemd unit)",
			limit, m.Target, need, m.Connections, model.HeadroomPercent, m.Target, most),
	}
}
