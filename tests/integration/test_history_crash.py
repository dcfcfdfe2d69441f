"""kill -9 of a real gateway while it writes history, 20 times: the file stays intact, at most
commit_interval_s (plus scheduling slack) is lost, and the next start goes on writing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from gateway.history.reader import HistoryReader
from tests.conftest import scaled

COMMIT_INTERVAL_S = 0.5
KILLS = 20
SLACK_S = 0.5
"""Beyond commit_interval_s: the writer thread's wake-up and commit time, and the poll-to-hub path."""


def newest_raw_ns(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    try:  # the database and the recent log (the last commits are only there until the next fold)
        tiers = HistoryReader(path).sensors()
    except FileNotFoundError:
        return 0  # the writer is creating the schema right now
    return max((d["newest_ns"] for d in tiers if d["tier"] == "raw"), default=0)


def test_kill_9_twenty_times_during_writes(tmp_path: Path) -> None:
    """Each SIGKILL leaves an intact database holding everything up to commit_interval_s before the kill; the
    1 m and 1 h rollups resume where they were and count every stored reading; a last run stops cleanly."""
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'[gateway]\nid = "crash"\nhost = "127.0.0.1"\nport = 0\ndata_dir = "{tmp_path}"\n'
        f"[history]\ncommit_interval_s = {COMMIT_INTERVAL_S}\ncompact_interval_s = 10\n"
        '[[sensors]]\nid = "wave"\ndriver = "synthetic"\ninterval_s = 0.01\nhistory = "raw"\nfields = ["a", "b"]\n'
    )
    db = tmp_path / "history.db"
    rnd = random.Random(14)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    losses = []
    for i in range(KILLS + 1):
        before = newest_raw_ns(db) if db.exists() else 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(cfg), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + scaled(20)
            while (not db.exists() or newest_raw_ns(db) <= before) and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
            assert newest_raw_ns(db) > before, "the gateway did not start writing"
            time.sleep(rnd.uniform(0.1, 1.5))
            killed_ns = time.time_ns()
            proc.send_signal(signal.SIGKILL if i < KILLS else signal.SIGTERM)  # the last run stops cleanly
            proc.wait(scaled(10))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if i < KILLS:
            losses.append((killed_ns - newest_raw_ns(db)) / 1e9)
    assert max(losses) <= scaled(COMMIT_INTERVAL_S + SLACK_S), losses
    # The rollups were resumed after every kill: they hold exactly the readings the raw tier holds.
    reader = HistoryReader(db)
    raw = reader.query("wave", ["a"], 0, time.time_ns(), limit=10**7)
    assert raw is not None
    first = raw.rows[0][0]
    minutes = reader.query("wave", ["a"], first, time.time_ns(), period_ns=60 * 10**9)
    hours = reader.query("wave", ["a"], first, time.time_ns(), period_ns=3600 * 10**9)
    assert minutes is not None and hours is not None
    assert (minutes.tier, hours.tier) == ("1m", "1h")
    assert sum(r[1][0] for r in minutes.rows) == sum(r[1][0] for r in hours.rows) == len(raw.rows)
