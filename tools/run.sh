#!/usr/bin/env bash
# Install what is missing, build nfsentry, and run the collector on the
# default configuration (config/nfsentry.yaml) from the project root.
# Extra arguments go to `nfsentry run` (for example -c another.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
if [ ! -d build-release ]; then
	meson setup build-release --buildtype=release -Dtests=false >/dev/null
fi
ninja -C build-release >/dev/null
exec build-release/src/nfsentry run -c config/nfsentry.yaml "$@"
