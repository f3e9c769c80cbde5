# Every routine task of ktgrpc. `make run` starts the gateway on the embedded
# store; `make test` runs every check CI runs.

GO      ?= go
TOOL    := $(GO) tool -modfile=$(CURDIR)/tools/go.mod
# The Go modules of the repository: the gateway (.), the generated stubs
# (gen), the HTTP/JSON handlers (gen/gateway) and the Go client (clients/go).
# `go test ./...` stops at a nested go.mod, so vet, staticcheck and gotest run
# in each; they are wired together with replace directives, not go.work,
# because `go tool -modfile` does not work in workspace mode.
MODULES := . gen gen/gateway clients/go
LISTEN  ?= 127.0.0.1:7878
# HTTP/JSON beside gRPC for `make run`; HTTP_LISTEN= turns it off.
HTTP_LISTEN ?= 127.0.0.1:7879
# The embedded store's two tree databases "0" and "1", and a table
# database "users" for the Table service.
BACKEND ?= embedded:?dbs=0,1,users:table
# -race needs cgo; the machine image ships gcc.
TESTFLAGS ?= -race -count=1 -timeout 8m
# Debian's python3 carries python3-grpcio; a pyenv python3 on PATH may not.
PYTHON    ?= /usr/bin/python3
NODE_DEPS := clients/node/node_modules/.package-lock.json
APT_PKGS  := protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf \
             python3-setuptools python3-wheel python3-venv python3-pytest python3-msgpack \
             curl nginx libnginx-mod-http-lua lua-cjson openssl

.PHONY: run build static test deps breaking lint vet staticcheck generate check-generated gotest real test-python test-node examples bench bench-compare clean

## run: start the gateway on $(LISTEN) (HTTP/JSON on $(HTTP_LISTEN)) with backend $(BACKEND)
run:
	$(GO) run ./cmd/ktgrpc serve --listen $(LISTEN) --http-listen '$(HTTP_LISTEN)' --backend '$(BACKEND)'

## build: build the binary into bin/, stamped with the VCS revision (ktgrpc version)
# The toolchain cannot read the revision in a linked git worktree; the
# linker flag supplies it there (ktgrpc version prefers the toolchain's).
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
build:
	$(GO) build -buildvcs=true -ldflags='-X main.buildRevision=$(REVISION)' -o bin/ktgrpc ./cmd/ktgrpc

## static: build what the Dockerfile's build stage builds, with the same command
STATIC_OUT ?= bin/ktgrpc-static
static:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=true -ldflags='-s -w' -o $(STATIC_OUT) ./cmd/ktgrpc

## test: lint, vet, staticcheck, generated-code freshness, and every test with -race
test: deps lint vet staticcheck check-generated gotest test-python test-node

## deps: install what the client stubs and their tests need (Debian packages, pinned npm modules)
deps: $(NODE_DEPS)
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(NODE_DEPS): clients/node/package.json clients/node/package-lock.json
	@command -v npm >/dev/null && node -e 'process.exit(parseInt(process.versions.node, 10) < 20 ? 1 : 0)' || \
		{ echo "the Node client needs Node.js 20 or later with npm on PATH"; exit 1; }
	npm ci --prefix clients/node --no-audit --no-fund

lint:
	$(TOOL) buf lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '^gen/' || true); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do echo "go vet ./... in $$m"; (cd $$m && $(GO) vet ./...); done

staticcheck:
	@set -e; for m in $(MODULES); do echo "staticcheck ./... in $$m"; (cd $$m && $(TOOL) staticcheck ./...); done

## generate: regenerate gen/, clients/python and clients/node/gen from proto/
generate: deps
	$(TOOL) buf generate

## breaking: compare the API with AGAINST (default: the main branch) under buf's FILE breaking rules
AGAINST ?= .git\#branch=main
breaking:
	$(TOOL) buf breaking --against '$(AGAINST)'

## check-generated: fail when gen/ or the client stubs are stale
check-generated: deps
	clients/check-generated.sh

gotest: deps
	@set -e; for m in $(MODULES); do echo "go test ./... in $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...); done

## real: run the conformance suite and a long differential run against the disposable real servers
## named by KT_ADDR, TT_ADDR, TT_BTREE_ADDR and TT_TABLE_ADDR (they are cleared); DIFF_SEQUENCES and
## DIFF_OPS size the differential run. One package at a time: the suites share the servers' databases
DIFF_SEQUENCES ?= 200
DIFF_OPS       ?= 300
real:
	KTGRPC_DIFF_SEQUENCES=$(DIFF_SEQUENCES) KTGRPC_DIFF_OPS=$(DIFF_OPS) \
		$(GO) test -p 1 -count=1 -timeout 60m -run 'Conformance|Diff' ./backend/...

## test-python: install clients/python into a fresh virtual environment and run its pytest suite against bin/ktgrpc
test-python: deps build
	PYTHON=$(PYTHON) KTGRPC_BINARY=bin/ktgrpc clients/python/test.sh

## test-node: type-check the Node package's declarations (tsc) and run its tests against bin/ktgrpc
test-node: deps build
	cd clients/node && node_modules/.bin/tsc -p tsconfig.json
	cd clients/node && KTGRPC_BINARY=$(CURDIR)/bin/ktgrpc node --test test/

## examples: run the Go, Python and Node examples against the gateway on $(LISTEN) (make run first)
examples: deps
	cd clients/go && $(GO) run ./example $(LISTEN)
	$(PYTHON) clients/python/example/example.py $(LISTEN)
	node clients/node/example/example.js $(LISTEN)

## bench: run the Go benchmarks (compare runs with benchstat), but for bench-compare's
bench:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -skip '^BenchmarkCompare$$' -benchmem ./...); done

## bench-compare: the side-by-side benchmark of docs/performance.md: the bare gRPC floor, the
## gateway on every backend, the adapters without gRPC, the wire, KV.Pipeline; prints the table
## and the goals' ratios. KT_ADDR/TT_ADDR add real servers (only keys under ktgrpc-bench: are
## written, then removed), KTGRPC_BENCH_QUERY="coalesce=off;coalesce=on" runs each backend
## URL query in turn, KTGRPC_BENCH_DELAY sets the delaying proxy's latency (0: none)
BENCHTIME ?= 1s
bench-compare:
	$(GO) test -run '^$$' -bench '^BenchmarkCompare$$' -benchtime $(BENCHTIME) -timeout 30m ./test/bench

clean:
	rm -rf bin
