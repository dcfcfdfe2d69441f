#!/usr/bin/env bash
# Check the floors pyproject.toml claims, so they can never lie (issue 19, items 1 and 2):
#  1. build the wheel with exactly the setuptools floor of [build-system] (pip's isolated build) and run
#     tests/test_packaging.py on that wheel's metadata;
#  2. run the WebSocket integration tests against the OLDEST websockets that `websockets>=X` admits.
#
# The floor is installed into its own venv, cached in .cache/floor/websockets-X/ (keyed by the version, so a
# new floor builds a new venv, about 5 s; a cached one starts at once). Everything else (pytest, msgpack, ...)
# comes from the project venv through a .pth file that is read AFTER the floor venv's own site-packages: the
# floor's websockets shadows the project's. Called by scripts/test.sh; extra arguments go to pytest.
# Environment: PYTHON (runner, default .venv/bin/python), WEBSOCKETS_VERSION (try another version instead).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
py="${PYTHON:-$here/.venv/bin/python}"
floor="$(sed -n 's/^ *"websockets>=\([0-9][0-9.]*\).*/\1/p' pyproject.toml)"
if [ -z "$floor" ]; then
  echo "[floor] no websockets>=X pin found in pyproject.toml" >&2
  exit 1
fi
st_floor="$(sed -n 's/^requires = \["setuptools>=\([0-9][0-9.]*\)"\]/\1/p' pyproject.toml)"
if [ -z "$st_floor" ]; then
  echo "[floor] no setuptools>=X in [build-system] requires" >&2
  exit 1
fi
dist="$here/.cache/floor/dist"
rm -rf "$dist"
mkdir -p "$dist"
echo "setuptools==$st_floor" >"$dist/constraints.txt"
echo "[floor] building the wheel with setuptools $st_floor" >&2
"$py" -m pip --disable-pip-version-check -q wheel --no-deps --build-constraint "$dist/constraints.txt" \
  -w "$dist" "$here"
SENSORCAST_WHEEL="$(echo "$dist"/sensorcast-*.whl)" PYTHONPATH="$here" \
  "$py" -m pytest tests/test_packaging.py -q -p no:cacheprovider

version="${WEBSOCKETS_VERSION:-$floor}"
venv="$here/.cache/floor/websockets-$version"
if ! "$venv/bin/python" -c "import websockets.version as v, sys; sys.exit(v.version != '$version')" 2>/dev/null; then
  echo "[floor] building $venv" >&2
  rm -rf "$venv"
  "$py" -m venv --without-pip "$venv"
  "$py" -m pip --disable-pip-version-check -q --python "$venv/bin/python" install "websockets==$version"
  own="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  "$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' >"$own/zz-sensorcast-project.pth"
fi
got="$("$venv/bin/python" -c 'import websockets.version as v; print(v.version)')"
if [ "$got" != "$version" ]; then
  echo "[floor] $venv imports websockets $got, not $version" >&2
  exit 1
fi
echo "[floor] WebSocket integration tests on websockets $got" >&2
PYTHONPATH="$here" exec "$venv/bin/python" -m pytest tests/integration/test_websocket.py tests/integration/test_hostile_peers.py \
  tests/integration/test_security_http.py tests/integration/test_listen.py tests/integration/test_history_stream.py \
  -q -p no:cacheprovider "$@"
