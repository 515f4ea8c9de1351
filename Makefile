# wsctl — the two commands a newcomer needs: `make demo` and `make test`.
GO ?= go
GOFLAGS ?=
TEST_TIMEOUT ?= 20m
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test fmt-check vet demo bench fuzz clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Installs what the tests need when missing: HAProxy, nginx and socat with
# apt-get, Consul at the pinned version (scripts/deps.sh). Stops nothing.
deps:
	@bash scripts/deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Everything CI runs: install what is missing, format and vet checks, then all
# tests including the integration tests against real haproxy and nginx.
test: deps fmt-check vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# Renders the basic example, starts three wsecho backends and HAProxy in a
# temp dir, proves WebSockets flow through, and stops everything on exit.
# It needs HAProxy only (not nginx, socat or Consul).
demo: build
	@bash scripts/deps.sh haproxy
	@bash scripts/demo.sh

# The full benchmark scenarios on loopback (minutes; up to ~9,900 WebSockets
# through one HAProxy process): rewrites bench/RESULTS.md and bench/*.svg.
# `make test` runs only their smoke versions. BENCH_REPEATS sets the repeats.
BENCH_REPEATS ?= 3
bench: deps
	$(GO) test -count=1 -timeout 60m -run Scenario -v ./bench -bench-full -bench-repeats $(BENCH_REPEATS)
	$(GO) test -count=1 -run '^$$' -bench Render -benchmem ./bench

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
	FuzzDiscoveryToConfig:./discovery/consul
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) $$pkg; \
	done

clean:
	rm -rf $(BIN)
