# wsctl — the two commands a newcomer needs: `make demo` and `make test`.
GO ?= go
GOFLAGS ?=
TEST_TIMEOUT ?= 20m
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit is stamped too: with GOFLAGS=-buildvcs=false Go records none.
COMMIT ?= $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null && echo $$c || echo $$c-dirty; })
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build deps test test-haproxy30 fmt-check vet demo bench fuzz clean package package-test

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Installs what the tests need when missing: HAProxy, nginx, socat and
# promtool (Debian's prometheus package) with apt-get, Consul at the pinned
# version (scripts/deps.sh). Stops nothing.
deps:
	@bash scripts/deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Everything CI runs: install what is missing, format and vet checks, then all
# tests including the integration tests against real haproxy (Debian's 2.6)
# and nginx, then the HAProxy integration tests again against HAProxy 3.0.
test: deps fmt-check vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory test-haproxy30

# The packages whose tests drive a real HAProxy (or validate with one), run
# again with WSCTL_HAPROXY at HAProxy 3.0: Debian 13's build, fetched once
# into .cache/haproxy-3.0 by scripts/haproxy30.sh and made to run here.
HAPROXY_PKGS := ./e2e ./haproxy/... ./rebalance ./reload ./target ./drain ./rollout ./handover ./serverstate ./agent ./cmd/wsctl ./proxy ./templates
test-haproxy30:
	@bin=$$(bash scripts/haproxy30.sh) && echo "== HAProxy integration tests against $$($$bin -v | head -1)" && \
	WSCTL_HAPROXY=$$bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(HAPROXY_PKGS)

# Renders the basic example, starts three wsecho backends and HAProxy in a
# temp dir, proves WebSockets flow through, and stops everything on exit.
# It needs HAProxy only (not nginx, socat or Consul).
demo: build
	@bash scripts/deps.sh haproxy
	@bash scripts/demo.sh

# The full benchmark scenarios on loopback (two to four hours on 2 cores: up
# to ~9,900 WebSockets through one HAProxy process, 100,000 across 20 in the
# fleet rows): rewrites bench/RESULTS.md and bench/*.svg. One scenario:
# go test -count=1 -timeout 2h -run TestScenarioRebalance -v ./bench -bench-full
# `make test` runs only their smoke versions. BENCH_REPEATS sets the repeats.
BENCH_REPEATS ?= 3
bench: deps
	$(GO) test -count=1 -timeout 300m -run Scenario -v ./bench -bench-full -bench-repeats $(BENCH_REPEATS)
	$(GO) test -count=1 -run '^$$' -bench Render -benchmem ./bench

# The Debian package in dist/: the binary, man pages and shell completions
# generated from the command tree (wsctl gen-docs), the agent's systemd unit
# and /etc/wsctl/wsctl.yaml as a conffile. packaging/ is a module of its own
# that uses nfpm as a library, so wsctl never links it. The binary is stamped
# with the package's version (-print-version), so `wsctl version` and dpkg
# say the same.
DIST := dist
package:
	rm -rf $(DIST)/root $(DIST)/wsctl_*.deb
	@mkdir -p $(DIST)/root
	v=$$(cd packaging && $(GO) run . -version "$(VERSION)" -print-version) && \
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -ldflags "-X main.version=$$v -X main.commit=$(COMMIT)" -o $(DIST)/root/wsctl ./cmd/wsctl
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null) $(DIST)/root/wsctl gen-docs $(DIST)/root
	cd packaging && SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null) $(GO) run . -version "$(VERSION)" -root ../$(DIST)/root -out ../$(DIST)

# What CI runs after `make test`: the packaging program's own tests, then the
# package installed with apt-get, the installed wsctl run (version, check on
# the shipped spec), the unit verified, and the package purged again.
package-test: package
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...
	@bash scripts/package-test.sh

# Runs each fuzz target for FUZZTIME, one after the other (`make test` runs
# only their seed corpora, testdata/fuzz/<Name> and f.Add). A target is
# Name:package; add one per line.
FUZZTIME ?= 30s
# One worker: the targets render whole configs and two cores are shared.
FUZZPARALLEL ?= 1
FUZZ_TARGETS := \
	FuzzParse:./spec \
	FuzzLint:./lint \
	FuzzServerName:./discovery/consul \
	FuzzDiscoveryToConfig:./discovery/consul \
	FuzzRolloutState:./rollout
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) $$pkg; \
	done

clean:
	rm -rf $(BIN) $(DIST)
