"""What a configuration reload (SIGHUP, ``systemctl reload sensorcast``) changes, computed from the old and the
new :class:`~gateway.config.Config`. Pure: no I/O; :meth:`gateway.app.GatewayApp.reload` applies the plan.

Applied in place, without dropping a client: sensors added, removed or changed (only those are rebuilt; the
others keep polling) and access tokens (``security.tokens`` and the token file's contents). Everything else
is reported as needing a restart and is **not** applied, so the running gateway never mixes two configs in a
way nobody tested: the listen address and port, ``[gateway]`` batching and ring, ``[limits]``, the rest of
``[security]`` (TLS, allowlists...), ``[[actuators]]`` (outputs hold state and safe values), ``[mqtt]`` and
``[[rules]]``.

A sensor that the new config removes while the running rules still watch it is kept running (``kept``) until the
restart that applies the new rules: stopping it would leave those rules without readings, an active one stuck
active (its output action never cleared) and a ``stale`` one firing for a sensor removed on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from gateway.config import Config
from sensors.spec import DeviceSpec

RESTART_SECTIONS = ("gateway", "limits", "actuators", "mqtt", "rules")
"""Sections whose changes need a restart (``security`` too, except its tokens)."""


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The difference between two configs, as the app applies it."""

    added: tuple[DeviceSpec, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    """Sensors the new config removes but the running rules watch: kept running until a restart."""
    changed: tuple[DeviceSpec, ...] = ()
    """Sensors whose table changed: stopped and rebuilt (their new spec)."""
    tokens_changed: bool = False
    restart_needed: tuple[str, ...] = ()
    """Dotted keys (or sections) that changed but need a restart: kept as they are until then."""

    @property
    def empty(self) -> bool:
        """True when nothing changed at all."""
        return not (
            self.added
            or self.removed
            or self.kept
            or self.changed
            or self.tokens_changed
            or self.restart_needed
        )

    def summary(self) -> str:
        """One line for the log and ``systemctl status``."""
        parts = [
            f"{label} {', '.join(ids)}"
            for label, ids in (
                ("added", [s.id for s in self.added]),
                ("removed", list(self.removed)),
                ("rebuilt", [s.id for s in self.changed]),
            )
            if ids
        ]
        if self.kept:
            parts.append(f"kept {', '.join(self.kept)} (the running rules watch it until a restart)")
        if self.tokens_changed:
            parts.append("tokens rotated")
        if not parts:
            parts.append("no change applied")
        if self.restart_needed:
            parts.append(f"restart needed for {', '.join(self.restart_needed)} (not applied)")
        return "; ".join(parts)


def _changed_keys(section: str, old: object, new: object) -> list[str]:
    if old == new:
        return []
    if old is None or new is None or not hasattr(old, "__dataclass_fields__"):
        return [section]
    return [
        f"{section}.{f.name}"
        for f in fields(old)  # type: ignore[arg-type]
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def _unplaced(spec: DeviceSpec) -> DeviceSpec:
    """The spec without its key path: moving a table in the file (or to a drop-in) changes nothing."""
    return replace(spec, key="")


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """Compare the running config with a freshly loaded one (the order and place of tables do not matter)."""
    before = {s.id: _unplaced(s) for s in old.sensors}
    after = {s.id: s for s in new.sensors}
    restart: list[str] = []
    for section in RESTART_SECTIONS:
        if section == "actuators":
            if {a.id: _unplaced(a) for a in old.actuators} != {a.id: _unplaced(a) for a in new.actuators}:
                restart.append(section)
            continue
        restart += _changed_keys(section, getattr(old, section), getattr(new, section))
    sec_old = replace(old.security, tokens=(), token_file=None)
    sec_new = replace(new.security, tokens=(), token_file=None)
    restart += _changed_keys("security", sec_old, sec_new)
    watched = {rule.sensor for rule in old.rules}  # the running rules: a rules change waits for a restart
    gone = [sid for sid in before if sid not in after]
    return ReloadPlan(
        added=tuple(s for sid, s in after.items() if sid not in before),
        removed=tuple(sid for sid in gone if sid not in watched),
        kept=tuple(sid for sid in gone if sid in watched),
        changed=tuple(s for sid, s in after.items() if sid in before and before[sid] != _unplaced(s)),
        tokens_changed=old.security.tokens != new.security.tokens,
        restart_needed=tuple(restart),
    )
