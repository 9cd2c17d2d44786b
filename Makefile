# ktstar build and test entry points. `make` builds ktstar and runs the
# quickstart example; `make test` runs every test (as root, on a real kernel).
GO      ?= go
BIN     := bin/ktstar
GOFLAGS ?=

.PHONY: all build test vet bench clean

all: build
	./$(BIN) --set duration=1s examples/quickstart.star

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/ktstar

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 20m ./...

clean:
	rm -rf bin
