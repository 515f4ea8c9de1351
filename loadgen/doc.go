// Package loadgen is a WebSocket load generator that counts every dropped
// connection. It backs cmd/wsload and can be called in-process by tests and
// benchmarks through Run.
//
// Run opens Config.Conns WebSockets at Config.Rate per second, holds them
// until Config.Duration has passed since the start, sends a unique message
// every Config.Interval on each and matches its echo. A connection the peer
// closes before the end is a drop, counted by close code; with
// Config.Reconnect the client dials again after an exponential backoff with
// full jitter (base 100ms, cap 5s). After the duration, in-flight echoes get
// Config.Grace to arrive, then every connection is closed with 1000.
//
// The server a connection landed on is read from the greeting that
// cmd/wsecho sends first: {"type":"hello","server":"backend1","conn":N}.
// Servers that send no greeting are counted under "unknown" in per_server
// and not at all in landings.
//
// # Result keys
//
// Result marshals to JSON with these keys, a contract for scripts and other
// tests:
//
//	connected              successful handshakes, reconnects included
//	handshake_failed       handshakes that failed (refused, timed out, non-101)
//	first_handshake_error  the first of those errors, for diagnosis (omitted when none)
//	dropped                connections the peer closed before the end of the run
//	drops_by_code          dropped split by close code: {"1001": 3, "abrupt": 2};
//	                       "abrupt" = ended without a close frame (EOF, reset)
//	reconnects             successful handshakes that followed a drop
//	sent                   echo messages sent
//	echoed                 echo messages that came back
//	lost_echoes            sent but not echoed before the connection ended or
//	                       the run did; sent = echoed + lost_echoes
//	per_server             live connections per server when the duration ended
//	landings               handshakes per server over the whole run (each
//	                       reconnect counts), from the greetings
//	echo_p50_ms            median echo round trip, in milliseconds (1% precision)
//	echo_p99_ms            99th percentile echo round trip, in milliseconds
//	duration_ms            wall time of the run, closes included
//	interrupted            the context ended the run before its duration
//
// The timeline (Result.WriteTimelineCSV) has one row per 100ms since the
// start, columns t_ms (start of the slot), connects (handshakes that
// succeeded in the slot), closes (drops in the slot) and live (connections
// open at the end of the slot).
package loadgen
