#!/usr/bin/env bash
# Release check: the README's two quickstart commands on a truly fresh Debian 12, with no package installed by
# hand. Builds a minimal bookworm root (debootstrap --variant=minbase, then only python3 git ca-certificates sudo
# curl, package lists emptied as on cloud and container images, stock Debian /etc/hosts with `::1 localhost`),
# copies this checkout in, and inside systemd-nspawn runs, once as root and once as a user with sudo:
#   ./scripts/demo.sh   started, until /healthz answers HTTP 200, then stopped
#   ./scripts/test.sh   the whole suite
# Needs root, debootstrap and systemd-nspawn (systemd-container) on the host, and the Debian mirror, PyPI and
# npm reachable (the container shares the host's network). Slow (see README, Development): not for every CI run.
#
# Usage: sudo scripts/fresh-debian-check.sh [--only root|user] [WORKDIR]
#   WORKDIR defaults to /var/tmp/sensorcast-fresh-debian: outside the checkout (a 3 GB Debian root inside it
#   made setuptools' package discovery walk it on every `pip install -e .`), not /tmp (may be mounted nodev, and a
#   Debian root needs its device nodes). Its previous root is deleted first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
only=""
if [ "${1:-}" = "--only" ]; then
  only="${2:?--only needs root or user}"
  shift 2
fi
work="${1:-/var/tmp/sensorcast-fresh-debian}"
root="$work/root"
suite=bookworm
packages=(python3 git ca-certificates sudo curl)
user=dev
demo_wait_s=300 # the demo's first start creates its venv and pip-installs sensorcast: minutes on a slow mirror

log() { printf '[fresh-debian %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, systemd-nspawn): sudo $0"
for tool in debootstrap systemd-nspawn git; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap systemd-container git)"
done

mirror="${SENSORCAST_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then # the mirror this host's apt uses, so a local mirror or proxy is honoured
  mirror="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    head -n 1 | tr -d ' ' || true)"
  mirror="${mirror%/}"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

started_s=$SECONDS
mkdir -p "$work"
if [ -d "$root" ]; then
  log "deleting the previous root $root"
  rm -rf --one-file-system "$root"
fi

log "debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  die "debootstrap failed (log: $work/debootstrap.log)"

# No machined registration or scope unit (works without a system bus, e.g. inside a container itself).
machine=sensorcast-fresh
ca_env=()
in_root() {
  systemd-nspawn --quiet --register=no --keep-unit --machine="$machine" --directory="$root" \
    --setenv=LANG=C.UTF-8 ${ca_env[@]+"${ca_env[@]}"} "$@"
}
# nspawn keeps its propagation directory under /run/systemd/nspawn and refuses to clean it up on a disk: tmpfs.
mkdir -p /run/systemd/nspawn
[ "$(stat -f -c %T /run/systemd/nspawn)" = tmpfs ] || mount -t tmpfs tmpfs /run/systemd/nspawn

log "installing only: ${packages[*]}"
in_root /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages[*]} \
  >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*" || die "installing ${packages[*]} failed"

# A network that intercepts TLS (a company proxy) needs its CA on every machine behind it: the host's locally
# added CAs go in too, for apt, pip (PIP_CERT) and npm (NODE_EXTRA_CA_CERTS). Site configuration, not a package.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  log "adding this host's local CA certificates: $(cd /usr/local/share/ca-certificates && echo ./*.crt)"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  in_root update-ca-certificates >/dev/null
  bundle=/etc/ssl/certs/ca-certificates.crt
  ca_env=("--setenv=PIP_CERT=$bundle" "--setenv=NODE_EXTRA_CA_CERTS=$bundle")
fi

# What a stock Debian installation writes: Node 18 resolves localhost to ::1 first with this file.
echo "$machine" >"$root/etc/hostname"
cat >"$root/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$machine
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
in_root useradd --create-home --shell /bin/bash "$user"
echo "$user ALL=(ALL) NOPASSWD:ALL" >"$root/etc/sudoers.d/$user"
chmod 0440 "$root/etc/sudoers.d/$user"

# The checkout as it is (tracked and untracked files, not what .gitignore excludes), one copy per account.
copy_checkout() {
  local dest="$1" owner="$2"
  mkdir -p "$dest"
  (cd "$here" && git ls-files -z --cached --others --exclude-standard | grep -zv '/node_modules' |
    tar --null --files-from=- --create --file=-) | tar --extract --directory="$dest"
  chown -R "$owner" "$dest"
}
copy_checkout "$root/root/sensorcast" 0:0
copy_checkout "$root/home/$user/sensorcast" "$(stat -c %u:%g "$root/home/$user")"
log "root ready in $((SECONDS - started_s)) s"

# The two README commands for one account: demo until /healthz answers 200, then the whole test suite.
check_script() {
  cat <<EOF
set -u
cd ~/sensorcast
# A booted Debian has /run/systemd (systemd makes it); this container runs without systemd as init, and
# systemd-analyze verify (tests/deploy/test_unit.py) fails for a normal user when it has to create it.
[ -d /run/systemd ] || sudo mkdir -p /run/systemd
./scripts/demo.sh --port 8765 >demo.log 2>&1 &
demo=\$!
ok=0
for _ in \$(seq $demo_wait_s); do
  if [ "\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8765/healthz)" = 200 ]; then ok=1; break; fi
  kill -0 \$demo 2>/dev/null || break
  sleep 1
done
kill -TERM \$demo 2>/dev/null; wait \$demo
if [ \$ok = 1 ]; then echo "[check] demo: /healthz answered 200"; else echo "[check] demo: no 200"; cat demo.log; exit 1; fi
./scripts/test.sh -q -p no:cacheprovider
EOF
}

# The suite's own root-only tests chroot into Debian roots with /proc mounted and boot one with a nested
# systemd-nspawn: the container keeps all capabilities (it is a throwaway root on a machine we own).
run_as() {
  local account="$1" t0=$SECONDS rc=0
  log "as $account: demo.sh, then test.sh"
  local home=/root
  [ "$account" = root ] || home="/home/$account"
  in_root --as-pid2 --capability=all --user="$account" \
    --chdir="$home" --setenv=HOME="$home" /bin/bash -c "$(check_script)" >"$work/$account.log" 2>&1 || rc=$?
  log "as $account: exit $rc after $((SECONDS - t0)) s; last lines of $work/$account.log:"
  tail -n 15 "$work/$account.log" >&2
  return "$rc"
}

status=0
if [ "$only" != user ]; then run_as root || status=1; fi
if [ "$only" != root ]; then run_as "$user" || status=1; fi
log "total $((SECONDS - started_s)) s: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit "$status"
