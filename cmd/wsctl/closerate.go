package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/spec"
)

// closeRateBounds is what every --close-rate's usage says of its range.
var closeRateBounds = fmt.Sprintf("%g to %g", float64(drain.MinRate), float64(drain.MaxRate))

// backendRate is --close-rate where its default is the backend's
// close_rate (rollout, rebalance): known only once the spec is loaded.
type backendRate struct {
	rate float64
	set  bool
}

// backendRateVar declares --close-rate into r; its usage is followed by
// the default.
func backendRateVar(fl *pflag.FlagSet, r *backendRate, usage string) {
	fl.Var(r, "close-rate", usage+" (default: the backend's close_rate)")
}

func (r *backendRate) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	r.rate, r.set = v, true
	return nil
}

func (r *backendRate) Type() string   { return "float64" }
func (r *backendRate) String() string { return strconv.FormatFloat(r.rate, 'g', -1, 64) }

// of is the rate for backend b: the flag's when given, else b's.
func (r backendRate) of(b spec.Backend) float64 {
	if r.set {
		return r.rate
	}
	return b.CloseRate
}

// given is the flag's rate; nil when not given (the backend's).
func (r backendRate) given() *float64 {
	if !r.set {
		return nil
	}
	return &r.rate
}

// unloaded is the rate to check the flags with before the spec is loaded:
// the flag's, else the spec's default (the spec's own is checked once
// loaded).
func (r backendRate) unloaded() float64 {
	return r.of(spec.Backend{CloseRate: spec.DefaultCloseRate})
}
