#!/usr/bin/env bash
# Installs clients/python the way its README says (a virtual environment that
# sees Debian's grpcio and protobuf, pip install --no-build-isolation) and runs
# its pytest suite against the gateway binary $KTGRPC_BINARY.
#
# Usage: KTGRPC_BINARY=bin/ktgrpc clients/python/test.sh [pytest args]
set -euo pipefail

: "${KTGRPC_BINARY:?set KTGRPC_BINARY to a ktgrpc binary (make build)}"
KTGRPC_BINARY=$(cd "$(dirname "$KTGRPC_BINARY")" && pwd)/$(basename "$KTGRPC_BINARY")
export KTGRPC_BINARY
cd "$(dirname "$0")"
python=${PYTHON:-/usr/bin/python3}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip builds a local directory in place; a copy keeps build/ and *.egg-info
# out of the work tree.
mkdir "$tmp/src"
cp -r pyproject.toml README.md ktgrpc tests "$tmp/src/"
"$python" -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --no-build-isolation --no-index --disable-pip-version-check "$tmp/src"
cd "$tmp/src"
PYTHONDONTWRITEBYTECODE=1 "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
