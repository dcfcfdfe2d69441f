"""A real ``sensorcast run`` subprocess for browser tests and the dashboard benchmark.

The gateway is started exactly as a user starts it (``.venv/bin/sensorcast run``), the URL is parsed from the
``Dashboard: http://HOST:PORT/`` line it prints, and it is stopped by PID (SIGTERM, or SIGKILL to simulate a
crash). It can be restarted on the same port, which is what a page that reconnects needs.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SENSORCAST = Path(sys.executable).with_name("sensorcast")
DASHBOARD_LINE = re.compile(r"^Dashboard: (http://[^\s]+/)\s*$")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OPERATOR_TOKEN = "op-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"


def toml_value(value: Any) -> str:
    """Render a Python value as TOML (the subset configs here need)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot render {value!r} as TOML")


def write_config(
    path: Path,
    *,
    gateway: dict[str, Any] | None = None,
    tokens: bool = False,
    sensors: Sequence[dict[str, Any]] = (),
    actuators: Sequence[dict[str, Any]] = (),
    rules: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write a gateway config (optionally with an operator and a viewer token) and return its path."""
    lines = [
        "[gateway]",
        *(f"{k} = {toml_value(v)}" for k, v in {"id": "browser", **(gateway or {})}.items()),
    ]
    if tokens:
        lines += [
            "[security]",
            "tokens = "
            + toml_value(
                [
                    {"name": "op", "role": "operator", "token": OPERATOR_TOKEN},
                    {"name": "v", "role": "viewer", "token": VIEWER_TOKEN},
                ]
            ),
        ]
    for table, items in (("sensors", sensors), ("actuators", actuators), ("rules", rules)):
        for item in items:
            lines += [f"[[{table}]]", *(f"{k} = {toml_value(v)}" for k, v in item.items())]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # fail here, not in the gateway, if the rendering is wrong
    path.write_text(text, encoding="utf-8")
    return path


def synthetic(sensor_id: str, interval_s: float, fields: list[str], unit: str = "") -> dict[str, Any]:
    """A ``synthetic`` sensor table (waves per field plus a counter ``n``)."""
    table: dict[str, Any] = {
        "id": sensor_id,
        "driver": "synthetic",
        "interval_s": interval_s,
        "fields": fields,
    }
    if unit:
        table["unit"] = unit
    return table


class GatewayProcess:
    """One ``sensorcast run`` child process.

    Args:
        config: TOML config file; None runs the demo.
        port: 0 picks a free port; a restart reuses the port of the previous run.
        data_dir: working directory of the process (the gateway's relative data_dir lands there).
    """

    def __init__(self, config: Path | None, data_dir: Path, port: int = 0) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout_s: float = 30.0) -> str:
        """Start and wait for the ``Dashboard:`` line; return the dashboard URL."""
        cmd = [str(SENSORCAST), "run", "--port", str(self.port), "--log-level", "warning"]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        # Each test's gateways keep their state (history database, outbox) in the test's own directory: a restart
        # within a test finds its first boot's history, a later test never finds an earlier test's sensors.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SENSORCAST_DATA_DIR": str(self.data_dir / "state")}
        self.proc = subprocess.Popen(
            cmd, cwd=self.data_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        lines: queue.Queue[str | None] = queue.Queue()
        # A thread keeps draining the pipe for the whole run: a full pipe would block the gateway's logging.
        threading.Thread(target=self._pump, args=(self.proc, lines), daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=timeout_s)
                if line is None:
                    break
                m = DASHBOARD_LINE.match(line.strip())
                if m:
                    self.url = m.group(1)
                    self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
                    return self.url
        except queue.Empty:
            pass
        self.stop()
        raise RuntimeError("gateway did not start:\n" + "\n".join(self.output))

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 10.0) -> int | None:
        """Send ``sig`` to the child (by PID) and wait for it; returns its exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
