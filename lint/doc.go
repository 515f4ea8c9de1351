// Package lint finds the WebSocket pitfalls in an HAProxy or nginx config,
// hand-written or generated: idle timeouts at or below the heartbeat, missing
// upgrade headers, lost stickiness, old processes kept alive by reloads,
// connection limits the host can't carry, more WebSockets to one server
// address than one source address has local ports for.
//
// LintFile lints a file (following nginx includes); Lint lints text in
// memory (what "wsctl check" does with rendered output). Both return
// findings sorted by file, line and rule; each has a stable rule id, a
// severity (error, warning, info), a file and line, what happens to
// WebSocket users, and a fix. Fails decides the exit status: errors fail,
// warnings fail only when strict, info never does.
//
// The target is detected from the content when Options.Target is empty
// (see Detect); a file that is neither kind is ErrUnknownFormat, a file that
// doesn't parse an error naming file:line.
//
// Rules only judge what carries WebSockets. An HAProxy backend does when a
// frontend routes to it under an Upgrade/Connection-header, WebSocket-path or
// WebSocket-named ACL, or its own name says so (ws, websocket, socket.io,
// ...); when nothing in the file says which backends carry WebSockets, every
// "mode http" backend does. An nginx location with proxy_pass does when it
// (or a level it inherits from) sets an Upgrade header, when its Connection
// header comes from a map on $http_upgrade, or when its path says so; when
// no location says so, every proxied location does.
//
// Capacity and host findings rest on numbers a CI run may not know: the
// connections wanted and the proxy host's open-file limit and CPU count.
// What Options leaves zero is assumed (5,000 connections, the spec's default; this machine's
// limits, unless Options.Host says it is the proxy's host), and a finding
// that rests on an assumption is info and names it.
//
// README.md in this directory lists every rule with its severity, the JSON
// output and the defaults (heartbeat 30s, 5,000 connections).
package lint
