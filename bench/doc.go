// Package bench measures wsctl against the targets in docs/architecture.md on
// loopback: WebSockets held per proxy process; membership churn applied by
// `wsctl agent` (defaults, and a tuned debounce) against render-and-reload
// on every change, with Consul's own blocking-query latency as the floor,
// in the same run; a burst of registrations and a backlog of pending
// changes the agent must coalesce into few runtime applies; a rolling
// deploy under reconnecting clients; a fleet drain across three load
// balancers against the local drain on each in turn; structural reloads
// under reconnecting clients, `wsctl reload`'s paced hand-over against
// plain reloads; a fleet at scale (1 to 20 load balancers, each HAProxy
// with its `wsctl agent` process, up to 100,000 WebSockets, a fleet drain
// with the Consul requests each agent makes counted by a proxy); `wsctl
// rebalance` after a rolling deploy and after a scale-out from 3 to 4
// servers, next to waiting; and the control plane's own render cost.
//
// The scenarios are tests gated by a flag. A plain `go test ./bench` (and
// so `make test`) runs a smoke version of each, seconds long, that asserts
// behaviour and never speed. `make bench` runs the full sizes and rewrites
// the scenario's section of bench/RESULTS.md and its plots:
//
//	go test ./bench -run Scenario -count=1 -timeout 120m -bench-full
//	go test ./bench -run '^$' -bench Render -benchmem
//
// -bench-churn-modes runs some of the churn scenario's columns only (logged,
// RESULTS.md left alone), e.g. the agent with 1,000 servers and its floor:
//
//	go test ./bench -run ScenarioChurn -count=1 -v -bench-full -bench-churn-modes consul-large,agent-large
//
// BenchmarkRender10/1000/10000 time spec text → model → config for both
// targets; BenchmarkBuildRender10000 leaves the YAML parse out, which is
// what a discovery change costs.
//
// This file's package holds what the scenarios share and a test can check
// without a proxy: timelines, their SVG plot, the machine's description and
// the RSS of a process tree.
package bench
