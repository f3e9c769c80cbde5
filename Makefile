# Every routine task of ktgrpc. `make run` starts the gateway on the embedded
# store; `make test` runs every check CI runs.

GO      ?= go
TOOL    := $(GO) tool -modfile=tools/go.mod
LISTEN  ?= 127.0.0.1:7878
BACKEND ?= embedded:
# -race needs cgo; the machine image ships gcc.
TESTFLAGS ?= -race -count=1 -timeout 8m

.PHONY: run build test lint vet staticcheck generate check-generated gotest bench clean

## run: start the gateway on $(LISTEN) with backend $(BACKEND)
run:
	$(GO) run ./cmd/ktgrpc serve --listen $(LISTEN) --backend $(BACKEND)

## build: build the binary into bin/
build:
	$(GO) build -o bin/ktgrpc ./cmd/ktgrpc

## test: lint, vet, staticcheck, generated-code freshness, and every Go test with -race
test: lint vet staticcheck check-generated gotest

lint:
	$(TOOL) buf lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '^gen/' || true); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(TOOL) staticcheck ./...

## generate: regenerate gen/ (and the client stubs) from proto/
generate:
	$(TOOL) buf generate

## check-generated: fail when gen/ is stale
check-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(TOOL) buf generate -o $$tmp && \
	diff -r -q gen $$tmp/gen || { echo "gen/ is stale: run 'make generate'"; exit 1; }

gotest:
	$(GO) test $(TESTFLAGS) ./...

## bench: run the Go benchmarks (compare runs with benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
