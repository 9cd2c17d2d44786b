# ktstar build and test entry points. `make` builds ktstar and runs the
# quickstart example; `make test` runs every test (as root, on a real kernel).
GO      ?= go
BIN     := bin/ktstar
GOFLAGS ?=
# bash for pipefail: `make test` fails when go test does, not only when
# the summary program does.
SHELL   := /bin/bash

.PHONY: all build test test-guest fuzz vm-deps sched-ext-kit vet bench bench-deps clean

all: build
	./$(BIN) --set duration=1s examples/quickstart.star

# Static (CGO_ENABLED=0): nothing in the tree uses cgo (only the net
# package, via pflag, would link it), and `ktstar vm` boots this very
# binary as a guest's /init, where a static one needs no libraries (a
# dynamic one, as go install builds, works too: the guest carries them).
build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -o $(BIN) ./cmd/ktstar

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# -p 1: packages' tests pin SCHED_FIFO spinners to a CPU and others measure
# CPU shares; run side by side on two CPUs they perturb each other.
# internal/testsum prints go test's usual lines and then the skipped tests
# counted by reason (what this machine could not test, and why);
# KTSTAR_REQUIRE_TOOLS=1 (CI) fails a test that would skip for a missing
# tool instead.
test: vet
	set -o pipefail; $(GO) test -p 1 -count=1 -timeout 20m -json ./... | $(GO) run ./internal/testsum

# A short run of every fuzz target (go test -fuzz; seeds in each package's
# testdata/fuzz), FUZZTIME each: about a minute in all with the builds.
# Inputs that fail are written to testdata/fuzz and fail `make test` until
# fixed. `make fuzz FUZZTIME=10m` for a real session. The default is a
# count of executions: a time limit can end a run while a worker is still
# busy with an input, which go test reports as a failure ("context
# deadline exceeded") with no failing input.
FUZZTIME ?= 5000x
FUZZ := ./starlib:FuzzScriptSurface ./engine:FuzzLoadResolve ./cgroupfs:FuzzParsers \
	./cgroupfs:FuzzValidateName ./internal/owner:FuzzParse
fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*} 2>&1) || { echo "$$out"; exit 1; }; \
		echo "$$out" | grep '^fuzz: elapsed' | tail -1; \
	done

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

# Guest tests boot QEMU guests under TCG (about two minutes): the vm
# package's own, and guest-only tests of other packages (TestGuest*, run
# inside a guest with vm/vmtest), which skip unless KTSTAR_GUEST_TESTS is
# set. Static test binaries, because they become the guest's /init.
test-guest:
	CGO_ENABLED=0 KTSTAR_GUEST_TESTS=1 $(GO) test -count=1 -timeout 30m -run Guest ./...

# Installs QEMU (see vm/deps.sh); the kernel is fetched on first use.
vm-deps:
	bash vm/deps.sh

# A sched_ext guest kernel and scx_simple/scx_qmap, built once into
# ~/.cache/ktstar/sched-ext-kit from Debian trixie's linux-source-6.12
# (fetched with apt-get download, never installed) with bookworm's
# clang-16; see vm/sched-ext-kit.sh. Slow the first time (the kernel).
sched-ext-kit:
	bash vm/sched-ext-kit.sh

clean:
	rm -rf bin
