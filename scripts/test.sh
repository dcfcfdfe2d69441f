#!/usr/bin/env bash
# Quickstart command 2: install what the tests need (venv, Mosquitto, Chromium, systemd-analyze, debootstrap, promtool and
# the shared libraries Playwright's node driver loads)
# and run the whole suite: ruff, mypy (strict), pytest with coverage. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export -f as_root

# System packages the integration tests drive for real. Installed only when missing.
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null || need+=(chromium)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v openssl >/dev/null || need+=(openssl)
command -v promtool >/dev/null || need+=(prometheus)  # promtool checks /metrics and the example alert rules
# Shared libraries loaded by tools that do not come from apt, so nothing pulls them in: Playwright's bundled
# node driver (`ldd .venv/lib/python3*/site-packages/playwright/driver/node`) links these beyond libc6.
# Each entry is soname:package; tests/deploy/test_scripts.py checks the list against ldd.
libs=(libatomic.so.1:libatomic1 libstdc++.so.6:libstdc++6 libgcc_s.so.1:libgcc-s1)
for entry in "${libs[@]}"; do
  pkg="${entry#*:}"
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "[test] installing system packages: ${need[*]}" >&2
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

EXTRAS="test" source "$here/scripts/bootstrap.sh"
py="$here/.venv/bin/python"

# Node clients used by the seed-client tests (ws + @msgpack/msgpack) and axe-core for the dashboard's
# accessibility test, pinned by the lock file; reinstalled whenever the lock file is newer than the install.
seed=tests/integration/seed
if [ ! -f "$seed/node_modules/.package-lock.json" ] || [ "$seed/package-lock.json" -nt "$seed/node_modules/.package-lock.json" ]; then
  echo "[test] npm ci (tests/integration/seed)" >&2
  (cd tests/integration/seed && npm ci --no-audit --no-fund --silent)
fi

echo "[test] ruff" >&2
"$py" -m ruff check gateway sensors bridges tests benchmarks
"$py" -m ruff format --check gateway sensors bridges tests benchmarks
echo "[test] mypy --strict" >&2
"$py" -m mypy
echo "[test] pytest" >&2
set +e
"$py" -m coverage run -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a failure for this project" >&2
  exit 1
fi
[ $rc -eq 0 ] || exit $rc
echo "[test] WebSocket integration tests on the oldest websockets pyproject.toml allows" >&2
PYTHON="$py" "$here/scripts/test-floor.sh"
"$py" -m coverage report --fail-under=0 --skip-covered | tail -n 25
# The pure modules (no I/O, no clock) are held to 100 % branch coverage; one per line, so parallel work merges.
pure=(
    'gateway/protocol/*'
    'gateway/pollgrid.py'
    'bridges/mqtt/window.py'
    'bridges/mqtt/spill.py'
    'gateway/history/policy.py'
    'gateway/history/rollup.py'
    'gateway/history/codec.py'
    'gateway/history/frames.py'
    'gateway/fleet/ledger.py'
    'gateway/fleet/messages.py'
    'gateway/fleet/registry.py'
    'gateway/fleet/origin.py'
    'gateway/fleet/config.py'
    'gateway/fleet/ledger_file.py'
    'gateway/fleet/hold.py'
    'gateway/capture/codec.py'
    'gateway/capture/check.py'
    'gateway/capture/window.py'
    'gateway/capture/holding.py'
)
"$py" -m coverage report \
    --include="$(IFS=,; echo "${pure[*]}")" \
    --fail-under=100
