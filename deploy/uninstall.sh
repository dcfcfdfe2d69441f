#!/usr/bin/env bash
# Remove sensorcast's service and program files.
#
#   sudo deploy/uninstall.sh            keeps /etc/sensorcast (config, tokens), /var/lib/sensorcast (data) and the
#                                       sensorcast user, so a later install.sh picks up where this one left off
#   sudo deploy/uninstall.sh --purge    also deletes config, tokens, data and the sensorcast user and group
#
# The shared hardware groups (gpio, i2c, spi, dialout) are never removed: other software uses them.
# SENSORCAST_SYSTEMCTL replaces systemctl (tests record the calls).
set -euo pipefail

purge=0
case "${1:-}" in
  --purge) purge=1 ;;
  "") ;;
  -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown option: $1 (only --purge)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0 $*" >&2; exit 1; }

say() { printf '[sensorcast] %s\n' "$*"; }
systemctl_cmd() { ${SENSORCAST_SYSTEMCTL:-systemctl} "$@"; }

units=(sensorcast.service sensorcast-import.service)
if [ -n "${SENSORCAST_SYSTEMCTL:-}" ] || [ -d /run/systemd/system ]; then
  systemctl_cmd disable --now "${units[@]}" || true
else
  systemctl_cmd disable "${units[@]}" 2>/dev/null || true
fi
rm -f /etc/systemd/system/sensorcast.service /etc/systemd/system/sensorcast-import.service \
  /etc/udev/rules.d/99-sensorcast.rules /etc/modules-load.d/sensorcast.conf
rm -rf /etc/systemd/system/sensorcast.service.d
systemctl_cmd daemon-reload 2>/dev/null || true
if [ "$(readlink /usr/local/bin/sensorcast 2>/dev/null)" = /opt/sensorcast/venv/bin/sensorcast ]; then
  rm -f /usr/local/bin/sensorcast
fi
rm -rf /opt/sensorcast
say "removed the service and /opt/sensorcast"

if [ "$purge" = 1 ]; then
  rm -rf /etc/sensorcast /var/lib/sensorcast
  if getent passwd sensorcast >/dev/null; then userdel sensorcast; fi
  if getent group sensorcast >/dev/null; then groupdel sensorcast; fi
  say "purged /etc/sensorcast, /var/lib/sensorcast and the sensorcast user"
else
  say "kept /etc/sensorcast (config, tokens), /var/lib/sensorcast (data) and the sensorcast user (--purge removes them)"
fi
