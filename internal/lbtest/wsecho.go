package lbtest

import (
	"testing"
	"time"
)

// Wsecho is a wsecho backend started by a test.
type Wsecho struct {
	ID   string
	Addr string
	Proc *Process
}

// StartWsecho builds cmd/wsecho (once) and starts it as id on a free
// loopback port, waiting until it listens. Extra flags are appended.
func StartWsecho(t testing.TB, id string, flags ...string) *Wsecho {
	t.Helper()
	return StartWsechoAt(t, id, Addr(t), flags...)
}

// StartWsechoAt is StartWsecho on a given address.
func StartWsechoAt(t testing.TB, id, addr string, flags ...string) *Wsecho {
	t.Helper()
	bin := GoBinary(t, "cmd/wsecho")
	args := append([]string{"--listen", addr, "--id", id}, flags...)
	w := &Wsecho{ID: id, Addr: addr, Proc: Start(t, bin, args...)}
	WaitTCP(t, addr, 10*time.Second)
	return w
}
