package model

// Sizing: how the expected connections become limits. Defined here once;
// the templates (through the model), `wsctl check`'s host check and lint
// all read these.
const (
	// HeadroomPercent is added to the expected connections when sizing
	// maxconn, so the proxy does not refuse clients at exactly the planned
	// load.
	HeadroomPercent = 10
	// HAProxyReservedFDs is what HAProxy keeps beyond two descriptors per
	// connection (listeners, sockets, pollers, one per server check):
	// measured on 2.6, the rendered basic config needs 2 × maxconn + 43 and
	// refuses to start below ("Cannot raise FD limit"); 45 keeps a margin.
	HAProxyReservedFDs = 45
)

// MaxConn is the maxconn sized for connections: the connections plus
// HeadroomPercent, rounded up.
func MaxConn(connections int) int {
	return connections + (connections*HeadroomPercent+99)/100
}

// HAProxyFDs is how many descriptors one HAProxy process needs for maxconn.
func HAProxyFDs(maxconn int) int { return 2*maxconn + HAProxyReservedFDs }

// HAProxyMaxConnWithin is the largest maxconn one HAProxy process can carry
// within an open-file limit (0 when it carries none).
func HAProxyMaxConnWithin(fdLimit int) int {
	return max(fdLimit-HAProxyReservedFDs, 0) / 2
}

// ConnectionsWithin is the most expected connections whose maxconn (with
// headroom) fits within an open-file limit.
func ConnectionsWithin(fdLimit int) int {
	return HAProxyMaxConnWithin(fdLimit) * 100 / (100 + HeadroomPercent)
}
