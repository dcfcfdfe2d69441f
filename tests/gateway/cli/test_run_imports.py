"""`sensorcast run` starts without the modules only a scrape or another subcommand needs (issue 13: the demo's RSS).

Each imported module stays resident for the life of the service (its code objects alone are ~20 kB on average),
so what the run path does not use at start is imported where it is used. A scrape of /metrics still works: the
metrics tests render through prometheus-client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[3]

LAZY = (
    "prometheus_client",  # gateway.metrics: imported at the first scrape of /metrics
    "http.server",  # via prometheus_client.exposition
    "wsgiref",  # via prometheus_client.exposition
    "urllib.request",  # via prometheus_client.exposition and gateway.doctor.report
    "http.client",  # via urllib.request
    "gateway.doctor.checks",  # `sensorcast doctor` only
    "gateway.doctor.report",  # `sensorcast doctor` only
    "gateway.cli.doctor",  # dispatch imports only the command it runs
    "gateway.cli.bench",
    "gateway.cli.history",
    "gateway.cli.token",
    "difflib",  # sensors.spec: only for a "did you mean" on a config mistake
    "gateway.server.exportjob",  # gateway.server.routes: at the first streamed /api/history or /api/events
    "gateway.history.stream",  # via gateway.server.exportjob
    "gateway.history.export",  # via gateway.history.stream and gateway.history.http
    "gateway.history.http",  # the paged /api/* answer: only where the request line cannot be sniffed
    "gateway.reload_plan",  # gateway.app: at a reload (SIGHUP)
    "ctypes.util",  # gateway.clock finds the C library as dlopen(NULL), not with find_library
)

# The real entry point, with an exit hook that writes what was imported by the time the gateway stopped.
LAUNCH = """
import atexit, json, runpy, sys
path = sys.argv[1]
atexit.register(lambda: open(path, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["sensorcast", "run", "--port", "0"]
runpy.run_module("gateway", run_name="__main__", alter_sys=True)
"""


def test_a_started_demo_has_not_imported_the_lazy_modules(tmp_path: Path) -> None:
    """A demo that started, served and stopped on SIGTERM never imported the modules only a scrape or doctor use."""
    out = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("SENSORCAST_DATA_DIR", None)
    env.pop("STATE_DIRECTORY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        started = proc.stdout.readline()  # printed once every sensor, the hub and the server are up
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(scaled(30))
    assert started.startswith("sensorcast demo: demo on simulated sensors, ")
    assert code == 0
    modules = set(json.loads(out.read_text()))
    assert "gateway.app" in modules and "gateway.metrics" in modules  # it did run the gateway
    assert [m for m in LAZY if m in modules] == []
