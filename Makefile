# wsctl — the two commands a newcomer needs: `make demo` and `make test`.
GO ?= go
GOFLAGS ?=
TEST_TIMEOUT ?= 20m
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test test-haproxy30 fmt-check vet demo bench fuzz clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Installs HAProxy, nginx and socat with apt-get when missing.
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
HAPROXY_PKGS := ./e2e ./runtime/... ./drain ./agent ./cmd/wsctl ./proxy ./templates
test-haproxy30:
	@bin=$$(bash scripts/haproxy30.sh) && echo "== HAProxy integration tests against $$($$bin -v | head -1)" && \
	WSCTL_HAPROXY=$$bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(HAPROXY_PKGS)

# Renders the basic example, starts three wsecho backends and HAProxy in a
# temp dir, proves WebSockets flow through, and stops everything on exit.
demo: deps build
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
