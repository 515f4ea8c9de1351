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

// JudgeHost reports whether the proxy's host can run m. Its open-file hard
// limit is fdLimit when that is above 0 (given for the proxy's host, such as
// production's when CI checks), else this machine's. Unless fdLimit is given
// or host says this machine is the proxy's host, this machine only stands in
// for it: a problem is then info and says what it assumed, since a CI
// runner's limit says nothing about the load balancer's.
func JudgeHost(m *model.Model, fdLimit int, host bool) (*Problem, error) {
	if fdLimit > 0 {
		return HostProblem(m, uint64(fdLimit)), nil
	}
	limit, err := FileLimit()
	if err != nil {
		return nil, err
	}
	p := HostProblem(m, limit)
	if p != nil && !host {
		p.Severity = "info"
		p.Message += "; this assumes the proxy's host has this machine's limit: check on that host with --host, or give its limit with --fd-limit"
	}
	return p, nil
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
		Message: fmt.Sprintf("the host allows %d open files per process but %s needs %d for %d connections (+%d%% headroom, two descriptors each); "+
			"%s would not start or would refuse clients. Lower connections to %d or less, run several proxy processes, or raise the hard limit (LimitNOFILE= in the systemd unit)",
			limit, m.Target, need, m.Connections, model.HeadroomPercent, m.Target, most),
	}
}
