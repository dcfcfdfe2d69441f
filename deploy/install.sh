#!/usr/bin/env bash
# Install or upgrade sensorcast as a systemd service (Raspberry Pi OS, Debian, Ubuntu incl. Jetson).
#
#   sudo deploy/install.sh [--wheel FILE | --source DIR] [--config FILE] [--board NAME]
#                          [--enable-interfaces] [--python PATH] [--no-start]
#
# Idempotent: re-running it upgrades the package and the unit, and keeps /etc/sensorcast (config, tokens) and
# /var/lib/sensorcast (data). See docs/deploy.md.
#
# Environment (for image builders and tests):
#   SENSORCAST_SYSTEMCTL     command used instead of systemctl (tests record the calls instead of running them)
#   SENSORCAST_RASPI_CONFIG  command used instead of raspi-config
#   SENSORCAST_BOOT_CONFIG   config.txt to edit when raspi-config is absent (default /boot/firmware/config.txt)
#   PIP_*                    passed to pip as usual (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX for offline)
set -euo pipefail

PREFIX=/opt/sensorcast
VENV=$PREFIX/venv
ETC=/etc/sensorcast
DATA=/var/lib/sensorcast
CONFIG=$ETC/sensorcast.toml
TOKENS=$ETC/tokens.toml
USER_NAME=sensorcast
HW_GROUPS=(gpio i2c spi dialout)
UNITS=(sensorcast.service sensorcast-import.service)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(cd "$here/.." && pwd)"

say() { printf '[sensorcast] %s\n' "$*"; }
warn() { printf '[sensorcast] WARNING: %s\n' "$*" >&2; }
die() { printf '[sensorcast] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

wheel="" source_dir="" config_in="" board="" enable_ifaces=0 python="" start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="${2:?--wheel needs a file}"; shift 2 ;;
    --source) source_dir="${2:?--source needs a directory}"; shift 2 ;;
    --config) config_in="${2:?--config needs a file}"; shift 2 ;;
    --board) board="${2:?--board needs a name}"; shift 2 ;;
    --enable-interfaces) enable_ifaces=1; shift ;;
    --python) python="${2:?--python needs a path}"; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) usage 0 ;;
    *) printf 'unknown option: %s\n\n' "$1" >&2; usage 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*"
[ -z "$wheel" ] || [ -f "$wheel" ] || die "--wheel: no such file: $wheel"
[ -z "$config_in" ] || [ -f "$config_in" ] || die "--config: no such file: $config_in"
if [ -z "$wheel" ]; then
  source_dir="${source_dir:-$checkout}"
  [ -f "$source_dir/pyproject.toml" ] || die "no pyproject.toml in $source_dir: pass --source DIR or --wheel FILE"
fi

systemctl_cmd() { ${SENSORCAST_SYSTEMCTL:-systemctl} "$@"; }
# A chroot or an image being built has no running systemd: units can be enabled, not started.
systemd_running() { [ -n "${SENSORCAST_SYSTEMCTL:-}" ] || [ -d /run/systemd/system ]; }

# -- 1. Python >= 3.11 with venv ---------------------------------------------------------------------------------
py_ok() { "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; }
apt_install() {
  command -v apt-get >/dev/null || return 1
  say "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           --no-install-recommends "$@" >/dev/null; }
}
if [ -z "$python" ]; then
  for cand in python3 python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null && py_ok "$cand"; then python="$(command -v "$cand")"; break; fi
  done
  if [ -z "$python" ] && ! command -v python3 >/dev/null; then
    apt_install python3 python3-venv || true
    command -v python3 >/dev/null && py_ok python3 && python="$(command -v python3)"
  fi
fi
if [ -z "$python" ] || ! py_ok "$python"; then
  die "sensorcast needs Python >= 3.11; this system has $(python3 --version 2>&1 || echo none).
  On a Jetson Nano (Ubuntu 18.04) or another old release, install one (docs/deploy.md, 'Older Python'), e.g.
    curl -LsSf https://astral.sh/uv/install.sh | sh && ~/.local/bin/uv python install 3.11
  and re-run with: sudo $0 --python \"\$(~/.local/bin/uv python find 3.11)\""
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  apt_install python3-venv "python$pyver-venv" || apt_install python3-venv \
    || die "$python lacks the venv module: install python3-venv"
fi
say "Python: $("$python" --version) ($python)"

# -- 2. user and groups ------------------------------------------------------------------------------------------
for g in "${HW_GROUPS[@]}"; do
  if ! getent group "$g" >/dev/null; then
    groupadd --system "$g"
    say "created group $g"
  fi
done
if ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin \
    --comment "sensorcast telemetry gateway" "$USER_NAME"
  say "created system user $USER_NAME"
fi
usermod --append --groups "$(IFS=,; echo "${HW_GROUPS[*]}")" "$USER_NAME"

# -- 3. directories ----------------------------------------------------------------------------------------------
install -d -o root -g root -m 0755 "$PREFIX" "$PREFIX/libexec" "$PREFIX/share"
install -d -o root -g "$USER_NAME" -m 0750 "$ETC"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DATA"

# -- 4. venv and package -----------------------------------------------------------------------------------------
want_ver="$("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" != "$want_ver" ]; then
  say "Python changed: recreating $VENV"
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
target="${wheel:-$source_dir}"
say "installing sensorcast from $target"
pip=("$VENV/bin/python" -m pip -q --disable-pip-version-check --no-input)
# Same version number from a newer checkout must still replace the code, hence --force-reinstall --no-deps.
"${pip[@]}" install --force-reinstall --no-deps "$target"
"${pip[@]}" install "$target"
ln -sfn "$VENV/bin/sensorcast" /usr/local/bin/sensorcast
version="$("$VENV/bin/sensorcast" --version)"
say "installed $version"

# -- 5. config and tokens (never overwritten) --------------------------------------------------------------------
detect_board() {
  local model=""
  [ -r /proc/device-tree/model ] && model="$(tr -d '\0' </proc/device-tree/model)"
  case "$model" in
    *"Raspberry Pi Zero 2"*) echo pi-zero-2w ;;
    *"Raspberry Pi 5"*) echo pi5 ;;
    *"Raspberry Pi 4"*|*"Compute Module 4"*) echo pi4 ;;
    *"Raspberry Pi"*) echo pi4 ;;
    *Jetson*) echo jetson-nano ;;
    *) echo generic ;;
  esac
}
[ -n "$board" ] || board="$(detect_board)"
if [ ! -f "$here/boards/$board.toml" ]; then
  have="$(for f in "$here"/boards/*.toml; do basename "$f" .toml; done | tr '\n' ' ')"
  die "--board: no deploy/boards/$board.toml (have: $have)"
fi
install -o root -g root -m 0644 "$here/boards/$board.toml" "$PREFIX/share/$board.toml"
[ ! -f "$checkout/deploy/config.example.toml" ] \
  || install -o root -g root -m 0644 "$checkout/deploy/config.example.toml" "$PREFIX/share/config.example.toml"
if [ -f "$CONFIG" ]; then
  say "keeping existing $CONFIG"
else
  src="${config_in:-$here/boards/$board.toml}"
  install -o root -g "$USER_NAME" -m 0640 "$src" "$CONFIG"
  say "created $CONFIG from $src"
fi
chown root:"$USER_NAME" "$CONFIG"
chmod 0640 "$CONFIG"

new_tokens=()
if [ ! -s "$TOKENS" ] || ! grep -q '^\[\[tokens\]\]' "$TOKENS"; then
  for role in operator viewer; do
    tok="$("$VENV/bin/sensorcast" token --role "$role" --name "$role" --file "$TOKENS")" \
      || die "could not write $TOKENS"
    new_tokens+=("$role $tok")
  done
  say "generated an operator and a viewer token in $TOKENS"
fi
chown root:"$USER_NAME" "$TOKENS"
chmod 0640 "$TOKENS"
grep -q "token_file" "$CONFIG" \
  || warn "$CONFIG has no security.token_file: add  token_file = \"$TOKENS\"  under [security] to use the tokens"

config_ok=1
if ! "$VENV/bin/sensorcast" check-config "$CONFIG" >/dev/null 2>"$DATA/.check-config.txt"; then
  config_ok=0
  warn "$CONFIG has errors (the service will not start until they are fixed):"
  sed 's/^/    /' "$DATA/.check-config.txt" >&2
fi
rm -f "$DATA/.check-config.txt"

# -- 6. boot interfaces (Raspberry Pi) ---------------------------------------------------------------------------
reboot_needed=0
if [ "$enable_ifaces" = 1 ]; then
  raspi="${SENSORCAST_RASPI_CONFIG:-$(command -v raspi-config || true)}"
  bootcfg="${SENSORCAST_BOOT_CONFIG:-/boot/firmware/config.txt}"
  [ -f "$bootcfg" ] || [ -n "${SENSORCAST_BOOT_CONFIG:-}" ] || bootcfg=/boot/config.txt
  if [ -n "$raspi" ]; then
    say "enabling I2C, SPI, serial port (no login console on it) and 1-Wire with raspi-config"
    "$raspi" nonint do_i2c 0
    "$raspi" nonint do_spi 0
    if grep -q do_serial_hw "$raspi" 2>/dev/null; then
      "$raspi" nonint do_serial_hw 0
      "$raspi" nonint do_serial_cons 1
    else
      "$raspi" nonint do_serial 2
    fi
    "$raspi" nonint do_onewire 0
    reboot_needed=1
  elif [ -f "$bootcfg" ]; then
    say "enabling I2C, SPI, serial and 1-Wire in $bootcfg"
    for line in dtparam=i2c_arm=on dtparam=spi=on enable_uart=1 dtoverlay=w1-gpio; do
      if ! grep -qxF "$line" "$bootcfg"; then
        echo "$line" >>"$bootcfg"
        reboot_needed=1
      fi
    done
    [ "$reboot_needed" = 1 ] || say "$bootcfg already enables them"
  elif [ -d /opt/nvidia/jetson-io ]; then
    warn "on a Jetson, enable I2C/SPI/UART pins with: sudo /opt/nvidia/jetson-io/jetson-io.py (then reboot)"
  else
    warn "--enable-interfaces: neither raspi-config nor $bootcfg found; enable the buses as your board documents"
  fi
fi

# -- 7. systemd units, udev rule, modules ------------------------------------------------------------------------
install -o root -g root -m 0755 "$here/firstboot/sensorcast-import-boot-config" "$PREFIX/libexec/"
install -o root -g root -m 0755 "$here/uninstall.sh" "$PREFIX/libexec/uninstall.sh"
install -d -m 0755 /etc/systemd/system /etc/udev/rules.d /etc/modules-load.d
install -o root -g root -m 0644 "$here/sensorcast.service" /etc/systemd/system/sensorcast.service
install -o root -g root -m 0644 "$here/firstboot/sensorcast-import.service" /etc/systemd/system/
install -o root -g root -m 0644 "$here/99-sensorcast.rules" /etc/udev/rules.d/99-sensorcast.rules
install -o root -g root -m 0644 "$here/sensorcast-modules.conf" /etc/modules-load.d/sensorcast.conf

if systemd_running; then systemctl_cmd daemon-reload; fi
systemctl_cmd enable "${UNITS[@]}"
started=0
if [ "$start" = 1 ] && [ "$config_ok" = 1 ] && systemd_running; then
  # restart, not start: an upgrade must load the new code.
  systemctl_cmd restart sensorcast.service
  started=1
fi
if [ -z "${SENSORCAST_SYSTEMCTL:-}" ] && [ -d /run/systemd/system ] && command -v udevadm >/dev/null; then
  udevadm control --reload && udevadm trigger --subsystem-match=i2c-dev --subsystem-match=spidev \
    --subsystem-match=gpio || true
fi

# -- 8. how to reach it ------------------------------------------------------------------------------------------
hostport="$("$VENV/bin/python" -c '
import sys, tomllib
try:
    gw = tomllib.load(open(sys.argv[1], "rb")).get("gateway", {})
except (OSError, tomllib.TOMLDecodeError):
    gw = {}
print(gw.get("host", "127.0.0.1"), gw.get("port", 8765))
' "$CONFIG")" || hostport="127.0.0.1 8765"
host="${hostport%% *}" port="${hostport##* }"
scheme=http
grep -q '^[[:space:]]*tls_cert' "$CONFIG" && scheme=https
echo
if [ "$started" = 1 ]; then
  say "sensorcast is running ($version, board profile: $board)."
elif [ "$config_ok" = 0 ]; then
  say "installed, NOT started: fix $CONFIG, then: sudo systemctl restart sensorcast"
else
  say "installed and enabled; it starts at the next boot (or now: sudo systemctl start sensorcast)"
fi
case "$host" in
  127.*|localhost|::1)
    echo "  Dashboard (on this board only, gateway.host = $host): $scheme://127.0.0.1:$port/"
    echo "  From a laptop: ssh -L $port:127.0.0.1:$port <user>@$(hostname), then open $scheme://localhost:$port/"
    echo "  or set [gateway] host = \"0.0.0.0\" in $CONFIG to serve the LAN." ;;
  *)
    urls="$scheme://$(hostname).local:$port/"
    for ip in $(hostname -I 2>/dev/null || true); do
      case "$ip" in *:*) urls="$urls  $scheme://[$ip]:$port/" ;; *) urls="$urls  $scheme://$ip:$port/" ;; esac
    done
    echo "  Dashboard: $urls" ;;
esac
if [ ${#new_tokens[@]} -gt 0 ]; then
  echo "  Log in: paste a token when the dashboard asks for one (shown only now; kept in $TOKENS):"
  for entry in "${new_tokens[@]}"; do
    printf '    %-9s %s\n' "${entry%% *}" "${entry#* }"
  done
  echo "    (operator may switch outputs; viewer only watches)"
else
  echo "  Log in with a token from $TOKENS (sudo cat $TOKENS); unchanged by this run."
fi
echo "  More tokens: sudo sensorcast token --role viewer --file $TOKENS && sudo systemctl restart sensorcast"
echo "  Check the board: sudo sensorcast doctor    Logs: journalctl -u sensorcast -f"
[ "$reboot_needed" = 0 ] || echo "  Reboot once to activate I2C/SPI/serial/1-Wire: sudo reboot"
[ "$config_ok" = 1 ] || exit 1
