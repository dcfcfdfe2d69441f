#!/usr/bin/env bash
# Create (or refresh) the project venv in .venv and install sensorcast into it. PEP 668-safe: never touches the
# system Python. Sourced by scripts/demo.sh and scripts/test.sh; EXTRAS selects optional dependency groups.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SENSORCAST_VENV:-$here/.venv}"
extras="${EXTRAS:-}"

py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "sensorcast needs Python >= 3.11 (found: $("$py" --version 2>&1)). See docs/deploy.md." >&2
  exit 1
fi
if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
  # Fresh cloud and container images ship empty or stale package lists ("no installation candidate"): update
  # them first unless apt's lists directory holds a Packages index younger than a day.
  lists=/var/lib/apt/lists/
  eval "$(apt-config shell lists Dir::State::lists/d)"
  if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    echo "[bootstrap] updating the package lists (missing or older than a day)" >&2
    as_root apt-get update -qq >/dev/null
  fi
  echo "[bootstrap] installing python3-venv" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
stamp="$venv/.sensorcast-installed"
want="$(cat "$here/pyproject.toml" | sha1sum | cut -c1-12)-$extras"
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating venv in $venv" >&2
  "$py" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing sensorcast${extras:+[$extras]} into $venv" >&2
  log="$venv/pip-install.log"
  if ! { "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip \
         && "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$here${extras:+[$extras]}"; } \
       >"$log" 2>&1; then
    cat "$log" >&2
    echo "[bootstrap] pip install failed (log above, also in $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
