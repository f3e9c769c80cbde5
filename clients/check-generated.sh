#!/usr/bin/env bash
# Regenerates every buf output (gen/, clients/python, clients/node/gen) into a
# temporary directory and fails when the committed files differ: a changed
# .proto, plugin version or buf.gen.yaml without `make generate` shows up here.
#
# Needs: protoc and grpc_python_plugin on PATH (Debian: protobuf-compiler
# protobuf-compiler-grpc) and `npm ci` run in clients/node.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=0
for tool in protoc grpc_python_plugin; do
	if ! command -v "$tool" >/dev/null; then
		echo "check-generated: $tool not found; install Debian's protobuf-compiler protobuf-compiler-grpc" >&2
		missing=1
	fi
done
if [ ! -x clients/node/node_modules/.bin/protoc-gen-es ]; then
	echo "check-generated: clients/node/node_modules is missing; run 'npm ci --prefix clients/node'" >&2
	missing=1
fi
[ "$missing" = 0 ] || exit 1

# The committed Python stubs come from Debian 12's protoc and gRPC plugin;
# other versions print different code, which reads as stale below.
want_protoc="libprotoc 3.21.12"
if [ "$(protoc --version)" != "$want_protoc" ]; then
	echo "check-generated: warning: $(protoc --version) is not $want_protoc (Debian 12); Python stubs may differ for that reason alone" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go tool -modfile=tools/go.mod buf generate -o "$tmp"

stale=0
# gen/ and clients/node/gen hold generated files only, but for the go.mod
# and go.sum of the Go modules gen and gen/gateway.
for dir in gen clients/node/gen; do
	if ! diff -r -x go.mod -x go.sum "$dir" "$tmp/$dir"; then
		stale=1
	fi
done

# clients/python also holds hand-written files (__init__.py, example/):
# compare the generated ones, by name, in both directions.
generated_py() {
	(cd "$1" && find . -type f \( -name '*_pb2.py' -o -name '*_pb2.pyi' -o -name '*_pb2_grpc.py' \) | LC_ALL=C sort)
}
if ! diff <(generated_py clients/python) <(generated_py "$tmp/clients/python"); then
	echo "check-generated: the set of generated Python files differs (< committed, > generated)" >&2
	stale=1
fi
while IFS= read -r f; do
	if [ -f "clients/python/$f" ] && ! diff "clients/python/$f" "$tmp/clients/python/$f"; then
		stale=1
	fi
done < <(generated_py "$tmp/clients/python")

if [ "$stale" != 0 ]; then
	echo "check-generated: generated code is stale; run 'make generate' (go tool -modfile=tools/go.mod buf generate) and commit the result" >&2
	echo "check-generated: buf generate adds and overwrites but never deletes: remove by hand any file reported only in the committed tree" >&2
	exit 1
fi
echo "check-generated: gen/, clients/python and clients/node/gen are up to date"
