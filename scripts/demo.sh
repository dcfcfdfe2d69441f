#!/usr/bin/env bash
# Quickstart command 1: run the demo gateway on simulated sensors at http://127.0.0.1:8765/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export -f as_root
EXTRAS="" source "$here/scripts/bootstrap.sh"
exec "$here/.venv/bin/sensorcast" run "$@"
