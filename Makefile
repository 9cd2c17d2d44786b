# ktstar build and test entry points. `make` builds ktstar and runs the
# quickstart example; `make test` runs every test (as root, on a real kernel).
GO      ?= go
BIN     := bin/ktstar
GOFLAGS ?=

.PHONY: all build test vet bench bench-deps clean

all: build
	./$(BIN) --set duration=1s examples/quickstart.star

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/ktstar

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 20m ./...

# ktstar work types against C references and installed peers, A B A B …;
# prints the table, writes every figure to bin/bench.json (BENCHMARKS.md).
# BENCHFLAGS passes options, e.g. BENCHFLAGS='-pairs 7 -duration 2s'.
bench:
	@mkdir -p bin
	$(GO) run ./bench -json bin/bench.json $(BENCHFLAGS)

# The real peers of `make bench` (perf, stress-ng, hackbench, cyclictest) and gcc.
bench-deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y gcc linux-perf stress-ng rt-tests

clean:
	rm -rf bin
