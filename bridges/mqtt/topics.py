"""Topic layout (pure). See docs/mqtt.md.

::

    <prefix>/<gw>/status               retained "online" / "offline" (Last Will)
    <prefix>/<gw>/meta                 retained JSON: gateway id, boot id, payload format, sensors, outputs
    <prefix>/<gw>/<sensor>/data        one message per reading (JSON or msgpack)
    <prefix>/<gw>/<sensor>/meta        retained JSON: the sensor's catalogue entry (fields, units, model)
    <prefix>/<gw>/<sensor>/health      retained JSON: {"state": "ok"|"failing"|..., "error": str|null}
    <prefix>/<gw>/<output>/set         commands in (an output's state arrives on <output>/data)
    <prefix>/<gw>/<output>/result      command results out
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_level(name: str) -> str:
    """Return ``name`` usable as one topic level / Home Assistant object id (``[A-Za-z0-9_-]``)."""
    return _UNSAFE.sub("_", name) or "_"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names of one gateway.

    Args:
        prefix: first level(s), e.g. ``sensorcast``.
        gateway_id: the gateway's id (``[a-z0-9_-]``, validated by the gateway config).
    """

    prefix: str
    gateway_id: str

    @property
    def base(self) -> str:
        """``<prefix>/<gw>``."""
        return f"{self.prefix}/{self.gateway_id}"

    @property
    def status(self) -> str:
        """Availability topic (retained ``online``, Last Will ``offline``)."""
        return f"{self.base}/status"

    @property
    def gateway_meta(self) -> str:
        """Retained gateway metadata."""
        return f"{self.base}/meta"

    def data(self, sensor_id: str) -> str:
        """Readings of ``sensor_id``."""
        return f"{self.base}/{safe_level(sensor_id)}/data"

    def meta(self, sensor_id: str) -> str:
        """Retained catalogue entry of ``sensor_id``."""
        return f"{self.base}/{safe_level(sensor_id)}/meta"

    def health(self, sensor_id: str) -> str:
        """Retained health state of ``sensor_id``."""
        return f"{self.base}/{safe_level(sensor_id)}/health"

    def command(self, target: str) -> str:
        """Command topic of output ``target``."""
        return f"{self.base}/{safe_level(target)}/set"

    def result(self, target: str) -> str:
        """Command results of output ``target``."""
        return f"{self.base}/{safe_level(target)}/result"

    def rule(self, rule_id: str) -> str:
        """Retained state of local rule ``rule_id`` (its latest event, JSON). ``_rules`` cannot be a sensor id."""
        return f"{self.base}/_rules/{safe_level(rule_id)}"

    @property
    def events(self) -> str:
        """Every rule event (JSON, not retained)."""
        return f"{self.base}/_events"

    @property
    def command_filter(self) -> str:
        """Subscription filter matching every command topic of this gateway."""
        return f"{self.base}/+/set"

    def parse_command(self, topic: str) -> str | None:
        """Return the output level of a command topic of this gateway, or None for any other topic."""
        head = f"{self.base}/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        target = topic[len(head) : -len("/set")]
        if not target or "/" in target:
            return None
        return target
