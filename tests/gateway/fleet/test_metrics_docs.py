"""docs/metrics.md names every metric the fleet declares beyond the gateway's table, with its type and help."""

from __future__ import annotations

import re
from pathlib import Path

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from tests.integration.helpers import make_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_the_fleet_section_lists_the_fleets_own_metrics(tmp_path: Path) -> None:
    """Every metric a FleetApp declares is in the gateway table or in the fleet list (name, type, help), and
    the fleet list holds nothing else: the docs cannot drift from the fleet's code."""
    app = FleetApp(
        make_config(gateway={"id": "fleet", "data_dir": str(tmp_path)}), config_from_url("mqtt://h:1")
    )
    text = DOC.read_text()
    in_table = set(re.findall(r"^\| `(sensorcast_\w+)`", text, re.M))
    listed = re.findall(r"^- `(sensorcast_fleet_\w+)` \((\w+)\): (.+)$", text, re.M)
    own = [(d.name, d.kind, d.help) for d in app.metrics.described() if d.name not in in_table]
    assert listed == own
