"""``sensorcast fleet --config`` with a gateway's config: what it does not run is said, table by table."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from gateway.cli.fleet import prepare

GATEWAY_TOML = """
[gateway]
id = "hq"

[[sensors]]
id = "freezer"
driver = "bme280"
bus = 1
address = 0x76
simulate = true

[[rules]]
id = "warm"
sensor = "freezer"
field = "temperature_c"
when = "above"
threshold = -12.0
"""


def test_a_gateway_config_names_every_table_the_fleet_does_not_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """[[sensors]] and [[rules]] in a fleet's config: one warning naming both (rules do not run on the fleet)."""
    (tmp_path / "gw.toml").write_text(GATEWAY_TOML)
    args = argparse.Namespace(
        config=str(tmp_path / "gw.toml"), mqtt="mqtt://127.0.0.1:1", host=None, port=0, insecure=False
    )
    with caplog.at_level(logging.WARNING, logger="sensorcast"):
        prepare(args)
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'gw.toml'}: the fleet serves the gateways' sensors; its own [[sensors]], [[rules]] are not run"
    ]
