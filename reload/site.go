package reload

import (
	"context"

	"github.com/wsctl/wsctl/handover"
	"github.com/wsctl/wsctl/haproxy"
	"github.com/wsctl/wsctl/spec"
)

// Host is an HAProxy as `wsctl reload` acts on it, in the order it does:
// Preview (its dry run), Apply (the reload, then the servers added at
// runtime put back on the new worker) and the hand-over of the old
// workers through Master. Site is the real one; a test gives a fake.
type Host interface {
	Preview(ctx context.Context, config []byte, opts Options) (Plan, error)
	Apply(ctx context.Context, config []byte, opts Options) (Applied, error)
	Master() handover.Master
}

// Applied is a reload HAProxy confirmed (New is not 0), with the servers
// added at runtime that were put back on the new worker.
type Applied struct {
	Changed  bool
	Old, New int64
	Added    []haproxy.Ref
}

// Site is this host's HAProxy (Local) with the spec whose state file holds
// the servers added at runtime.
type Site struct {
	Local
	Spec *spec.Spec
}

var _ Host = Site{}

// Preview is Preview on the Local HAProxy.
func (s Site) Preview(ctx context.Context, config []byte, opts Options) (Plan, error) {
	return Preview(ctx, s.Local, config, opts)
}

// Apply reloads with config (Run) and adds back to the new worker the
// servers added at runtime that the state file holds (RestoreAdded). An
// error with New set is the restore's: the reload itself was confirmed.
func (s Site) Apply(ctx context.Context, config []byte, opts Options) (Applied, error) {
	rl, err := Run(ctx, s.Local, config, opts)
	if err != nil {
		return Applied{}, err
	}
	a := Applied{Changed: rl.Changed, Old: rl.Old, New: rl.New}
	a.Added, err = RestoreAdded(ctx, rl.Worker, s.Spec)
	return a, err
}

// Master is the master CLI, which hands the old workers over.
func (s Site) Master() handover.Master { return haproxy.NewMaster(s.MasterSocket, s.Timeout) }

// SpecSite is this host's HAProxy as spec s names it (its admin and master
// sockets), loading configFile: the Host `wsctl reload` acts on.
func SpecSite(s *spec.Spec, configFile string) Host {
	return Site{Local: Local{ConfigFile: configFile, AdminSocket: s.HAProxy.AdminSocket, MasterSocket: s.HAProxy.MasterSocket}, Spec: s}
}

// Cycle reloads h with config (Apply) and, once HAProxy confirmed the new
// worker, hands the old workers' WebSockets over (handover.Run on
// h.Master): the whole of `wsctl reload`. reloaded, when set, is called
// between the two with the confirmed reload, before a restore error
// (Apply's with New set) ends the cycle without a hand-over. A reload that
// did not happen has New 0 and an error that says where it stopped
// (StoppedAt).
func Cycle(ctx context.Context, h Host, config []byte, opts Options, hopts handover.Options, reloaded func(Applied)) (Applied, handover.Result, error) {
	rl, err := h.Apply(ctx, config, opts)
	if rl.New == 0 {
		return rl, handover.Result{}, err
	}
	if reloaded != nil {
		reloaded(rl)
	}
	if err != nil {
		return rl, handover.Result{}, err
	}
	res, err := handover.Run(ctx, h.Master(), hopts)
	return rl, res, err
}
