package main

import (
	"errors"
	"time"

	"github.com/spf13/pflag"
)

// durationValue is a duration flag that refuses a value that means
// nothing: a negative one always, zero unless the flag gives 0 a meaning
// (wait for ever, at once, every time). Refused when the flag is parsed, so
// every command gets the same check and the same message, naming the flag.
type durationValue struct {
	p      *time.Duration
	zeroOK bool
}

// durationVar declares a duration flag that may be 0; its usage says what
// 0 means.
func durationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(&durationValue{p: p, zeroOK: true}, name, usage)
}

// positiveDurationVar declares a duration flag that must be above 0.
func positiveDurationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(&durationValue{p: p}, name, usage)
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return err
	case d < 0 && v.zeroOK:
		return errors.New("want 0 or a positive duration")
	case d <= 0 && !v.zeroOK:
		return errors.New("want a positive duration")
	}
	*v.p = d
	return nil
}

func (v *durationValue) Type() string { return "duration" }

// String is "0" for zero, not "0s": pflag then shows no default in --help,
// as for its own duration flags.
func (v *durationValue) String() string {
	if *v.p == 0 {
		return "0"
	}
	return v.p.String()
}
