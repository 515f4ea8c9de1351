package render

import "github.com/aymanbagabas/go-udiff"

// Drift is how a deployed config differs from the generated one: the
// output of `wsctl diff -o json`, a documented contract, so fields are
// only ever added.
type Drift struct {
	Same    bool   `json:"same"`
	Against string `json:"against"`
	Spec    string `json:"spec"`
	Target  string `json:"target"`
	// Diff is the unified diff from the deployed config (named against)
	// to the generated one; "" when Same.
	Diff string `json:"diff"`
}

// Drift compares deployed, the config read from against, with g's.
func (g *Generated) Drift(against string, deployed []byte) Drift {
	d := udiff.Unified(against, "generated", string(deployed), string(g.Config))
	return Drift{Same: d == "", Against: against, Spec: g.Spec.File, Target: g.Model.Target, Diff: d}
}
