#!/usr/bin/env bash
# Quickstart command 1: run the demo gateway on simulated sensors at http://127.0.0.1:8765/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export -f as_root
EXTRAS="" source "$here/scripts/bootstrap.sh"
# Two glibc malloc arenas, as deploy/sensorcast.service sets: less memory kept by idle arenas (docs/benchmarks.md, "Soak").
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec "$here/.venv/bin/sensorcast" run "$@"
