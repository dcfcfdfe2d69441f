"""/metrics of the running demo (with the MQTT bridge and a rule) as Prometheus sees it: promtool-clean, parsed
by prometheus-client, every metric in docs/metrics.md's table, and the deploy/examples/prometheus files naming
only metrics that exist."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridges.mqtt.config import config_from_url
from gateway.app import GatewayApp
from gateway.config import demo_config
from gateway.metrics import Described
from tests.integration.mqtt.broker import free_port

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "metrics.md"
EXAMPLES = REPO / "deploy" / "examples" / "prometheus"
PROCESS_ROW = (
    "| `process_*` | (standard) | | CPU seconds, resident and virtual memory, open and max fds, start time |"
)


async def _scrape() -> tuple[str, list[Described]]:
    cfg = demo_config(port=0)
    cfg = replace(cfg, mqtt=config_from_url(f"mqtt://127.0.0.1:{free_port()}", cfg.mqtt))  # nobody listens
    async with GatewayApp(cfg) as app:
        await asyncio.sleep(0.6)  # one loop-lag check
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return body.decode(), app.metrics.described()


@pytest.fixture(scope="module")
def scrape() -> tuple[str, list[Described]]:
    return asyncio.run(_scrape())


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install the 'prometheus' Debian package (scripts/test.sh does)")
    return path


def table(described: list[Described]) -> list[str]:
    """docs/metrics.md's table: one row per metric, then the standard process_* row."""
    rows = [
        f"| `{d.name}` | {d.kind} | {', '.join(f'`{x}`' for x in d.labels)} | {d.help} |" for d in described
    ]
    return ["| name | type | labels | meaning |", "|---|---|---|---|", *rows, PROCESS_ROW]


def test_the_scrape_passes_promtool(scrape: tuple[str, list[Described]]) -> None:
    """`promtool check metrics` finds no problem (it found 10: a counter typed gauge, 8 metrics without HELP)."""
    res = subprocess.run(
        [promtool(), "check", "metrics"], input=scrape[0], capture_output=True, text=True, timeout=30
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_the_scrape_parses_and_every_family_is_typed_and_described(
    scrape: tuple[str, list[Described]],
) -> None:
    """prometheus-client's parser reads it back; no family is untyped or without help; the promised series
    (implausible, sensor errors, MQTT drops by reason, build info, process, loop-lag histogram) are there at 0
    or their value from the first scrape on."""
    families = {f.name: f for f in text_string_to_metric_families(scrape[0])}
    assert [n for n, f in families.items() if f.type in ("unknown", "untyped") or not f.documentation] == []
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert samples[("sensorcast_implausible_total", (("sensor", "env"),))] == 0
    assert samples[("sensorcast_sensor_errors_total", (("sensor", "env"),))] == 0
    assert [
        samples[("sensorcast_mqtt_dropped_total", (("reason", r),))] for r in ("outbox_full", "disconnected")
    ] == [
        0,
        0,
    ]
    assert samples[("sensorcast_build_info", (("version", "0.1.0"),))] == 1
    assert families["sensorcast_loop_lag_hist_seconds"].type == "histogram"
    assert families["sensorcast_commands"].type == "counter"
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_docs_table_lists_every_metric(scrape: tuple[str, list[Described]]) -> None:
    """docs/metrics.md's table is exactly the declared metrics (name, type, labels, help) plus process_*, and
    every family in a scrape is in it: the docs cannot drift from the code."""
    body, described = scrape
    expected = table(described)
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("|")]
    assert lines == expected, "docs/metrics.md's table should be:\n" + "\n".join(expected)
    names = {d.name for d in described}
    exposed = {f.name for f in text_string_to_metric_families(body)}
    undocumented = [
        n for n in exposed if n not in names and n + "_total" not in names and not n.startswith("process_")
    ]
    assert undocumented == []
    counted = {
        m.group(1)
        for path in (REPO / "gateway").rglob("*.py")
        for m in re.finditer(r"\.(?:inc|set)\(\s*\"(sensorcast_\w+)\"", path.read_text())
    }
    assert sorted(counted - names) == []  # also those that only appear after their first event


def _names(expr: str) -> set[str]:
    return set(re.findall(r"\b(?:sensorcast|process)_[a-z0-9_]+", expr))


def test_examples_name_only_metrics_that_exist(scrape: tuple[str, list[Described]]) -> None:
    """The Grafana dashboard parses as JSON; every expression in it and in the alert rules names a metric of a
    real scrape; promtool accepts the rules file."""
    exposed = {s.name for f in text_string_to_metric_families(scrape[0]) for s in f.samples}
    exposed |= {d.name for d in scrape[1]}  # labelled ones before their first event: HELP and TYPE only
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules_text = (EXAMPLES / "sensorcast-alerts.yml").read_text()
    exprs += [m.group(1) for m in re.finditer(r"expr: >?\s*(.+?)\n\s+(?:for|labels):", rules_text, re.S)]
    assert len(exprs) >= 20
    used = set().union(*map(_names, exprs))
    assert sorted(used - exposed) == []
    assert {"sensorcast_sensor_up", "sensorcast_mqtt_dropped_total", "process_resident_memory_bytes"} <= used
    res = subprocess.run(
        [promtool(), "check", "rules", str(EXAMPLES / "sensorcast-alerts.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0 and "SUCCESS: 10 rules found" in res.stdout, res.stdout + res.stderr
    scrape_cfg = (EXAMPLES / "prometheus.yml").read_text()
    assert "credentials_file:" in scrape_cfg and "protect_metrics = true" in scrape_cfg
