"""``sensorcast history export`` mistakes: a reversed range, an unknown sensor in JSON, a closed pipe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import scaled

T0_S = 1_790_000_000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A history database with 5000 readings of ``env`` (one a second from T0_S: more than a pipe buffer holds)."""
    from gateway.history.store import HistoryStore

    path = tmp_path / "h.db"
    st = HistoryStore(path, units={"env": {"t": "°C"}})
    st._open()
    t0 = T0_S * 10**9
    st.on_batch([(i + 1, 0, t0 + i * 10**9, "env", {"t": 20 + i % 5}, 0) for i in range(5000)])
    st.commit(final=True)
    return path


def export(db: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--db", str(db), "export", *args],
        capture_output=True,
        timeout=scaled(30),
    )


def test_from_after_to_is_a_usage_error(db: Path) -> None:
    """--from later than (or equal to) --to: exit 2 and one line naming both, not an empty export."""
    done = export(db, "--sensor", "env", "--from", str(T0_S + 100), "--to", str(T0_S))
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2,
        b"",
        f"history export: --from {T0_S + 100} is not before --to {T0_S}: expected an earlier --from\n",
    )


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_unknown_sensor_writes_nothing_to_stdout(db: Path, fmt: str) -> None:
    """An unknown sensor: exit 1 with its name on stderr, and no half-written JSON or CSV on stdout."""
    done = export(db, "--sensor", "nope", "--from", "0", "--format", fmt)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        b"",
        b"no history for sensor 'nope' (sensors with history: env)\n",
    )


def test_a_bad_time_is_echoed_bounded(db: Path) -> None:
    """--from xyz: exit 2 and one line quoting the value given, cut to 40 characters."""
    done = export(db, "--sensor", "env", "--from", "xyz")
    long = export(db, "--sensor", "env", "--from", "y" * 100)
    assert [(d.returncode, d.stdout, d.stderr.decode()) for d in (done, long)] == [
        (2, b"", "history export: --from: expected ISO-8601 or epoch seconds, got 'xyz'\n"),
        (2, b"", f"history export: --from: expected ISO-8601 or epoch seconds, got '{'y' * 40}...'\n"),
    ]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_unknown_field_is_a_usage_error(db: Path, fmt: str) -> None:
    """--fields t,nope: exit 2 naming the field and the sensor's fields, nothing on stdout (no empty column)."""
    done = export(db, "--sensor", "env", "--fields", "t,nope", "--from", "0", "--format", fmt)
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2,
        b"",
        "history export: fields: sensor 'env' has no field 'nope' (its fields: t)\n",
    )


def test_the_unknown_sensor_list_is_bounded(tmp_path: Path) -> None:
    """With 13 sensors stored, the unknown-sensor message lists the first 10 (sorted) and "... 3 more"."""
    from gateway.history.store import HistoryStore

    path = tmp_path / "many.db"
    st = HistoryStore(path)
    st._open()
    t0 = T0_S * 10**9
    st.on_batch([(i + 1, 0, t0, f"s{i:02d}", {"v": i}, 0) for i in range(13)])
    st.commit(final=True)
    done = export(path, "--sensor", "nope", "--from", "0")
    names = ", ".join(f"s{i:02d}" for i in range(10))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"no history for sensor 'nope' (sensors with history: {names}, ... 3 more)\n",
    )


def test_a_reader_closing_the_pipe_early_is_no_traceback(db: Path) -> None:
    """`export | head -1`: the export stops quietly when the reader goes away."""
    cmd = f"{sys.executable} -m gateway history --db {db} export --sensor env --from 0 | head -c 10"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=scaled(30))
    assert proc.stdout == b"time_utc,t"
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr


@pytest.mark.parametrize("action", [["info"], ["export", "--sensor", "env", "--from", "0"]])
def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path, action: list[str]) -> None:
    """--db pointing at a text file: exit 1 and one line naming the file and what was expected, no traceback."""
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--db", str(bad), *action],
        capture_output=True,
        timeout=scaled(30),
    )
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        1,
        b"",
        f"history: {bad}: not a sensorcast history database (file is not a database)\n",
    )


def test_a_directory_as_db_names_the_file_expected(tmp_path: Path) -> None:
    """--db pointing at the data directory: exit 1 and one line saying it is a directory and which file is meant."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--db", str(tmp_path), "info"],
        capture_output=True,
        timeout=scaled(30),
    )
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        1,
        b"",
        f"history: {tmp_path} is a directory: expected the database file (history.db in it?)\n",
    )


def test_events_of_a_misspelt_sensor_are_an_error_not_an_empty_file(tmp_path: Path) -> None:
    """export --events --sensor with a typo: exit 1 naming the sensors that have readings or events, nothing on
    stdout; a sensor with events only (its readings not kept) is still exported."""
    from gateway.history.store import HistoryStore

    path = tmp_path / "ev.db"
    st = HistoryStore(path, policies={"door": "off"})
    st._open()
    t0 = T0_S * 10**9
    st.on_batch([(1, 0, t0, "env", {"t": 20}, 0)])
    st.on_event(
        {"rule": "open", "sensor": "door", "field": "open", "state": "active", "ts": t0, "value": True}
    )
    st.commit(final=True)
    typo = export(path, "--events", "--sensor", "dor", "--from", "0")
    door = export(path, "--events", "--sensor", "door", "--from", "0", "--format", "json")
    assert (typo.returncode, typo.stdout, typo.stderr.decode()) == (
        1,
        b"",
        "no history for sensor 'dor' (sensors with history: door, env)\n",
    )
    assert (door.returncode, [e["rule"] for e in json.loads(door.stdout)["events"]], door.stderr) == (
        0,
        ["open"],
        b"",
    )


def test_history_with_a_fleet_config_reads_the_fleets_database(tmp_path: Path) -> None:
    """`history --config fleet.toml info` reads <data_dir>/fleet-<id>/history.db, where `sensorcast fleet` keeps
    its history (docs/fleet.md), not the history.db a gateway would keep in that data directory."""
    from gateway.history.store import HistoryStore

    (tmp_path / "fleet.toml").write_text(
        f'[gateway]\nid = "hq"\ndata_dir = "{tmp_path}"\n\n[fleet]\nurl = "mqtt://127.0.0.1:1883"\n'
    )
    (tmp_path / "fleet-hq").mkdir()
    st = HistoryStore(tmp_path / "fleet-hq" / "history.db")
    st._open()
    st.on_batch([(1, 0, T0_S * 10**9, "pi1/env", {"t": 20}, 0)])
    st.commit(final=True)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--config", str(tmp_path / "fleet.toml"), "info"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (done.returncode, done.stderr, done.stdout.splitlines()[0].split(" (")[0]) == (
        0,
        "",
        f"database: {tmp_path / 'fleet-hq' / 'history.db'}",
    )
    assert "pi1/env" in done.stdout


def test_ctrl_c_mid_export_says_the_output_is_incomplete(db: Path) -> None:
    """SIGINT while the export writes (blocked on a full pipe): exit 130 and one line saying what was written is
    incomplete, no traceback."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "history",
            "--db",
            str(db),
            "export",
            "--sensor",
            "env",
            "--from",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = (
            proc.stdout.read(10) if proc.stdout else b""
        )  # it has started writing; the rest fills the pipe
        time.sleep(scaled(1.0))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (first, proc.returncode, err.decode()) == (
        b"time_utc,t",
        130,
        "history export: interrupted: what was written so far is incomplete\n",
    )


def test_fields_may_have_spaces_after_the_commas(db: Path) -> None:
    """--fields "t, t" (a space after the comma, a field twice): the field once, as with --fields t."""
    spaced = export(db, "--sensor", "env", "--fields", " t, t ", "--from", "0", "--to", str(T0_S + 2))
    plain = export(db, "--sensor", "env", "--fields", "t", "--from", "0", "--to", str(T0_S + 2))
    assert (spaced.returncode, spaced.stderr, spaced.stdout.decode().splitlines()) == (
        0,
        b"",
        plain.stdout.decode().splitlines(),
    )
    assert plain.stdout.decode().splitlines()[0] == "time_utc,ts_ns,t (°C)"


@pytest.mark.parametrize(("option", "value"), [("--period", "1m"), ("--fields", "t")])
def test_events_with_a_readings_option_is_a_usage_error(db: Path, option: str, value: str) -> None:
    """--events with --period or --fields (options of a readings export): exit 2 naming the option, not an
    events file that quietly ignored it."""
    done = export(db, "--events", option, value, "--from", "0")
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2,
        b"",
        f"history export: {option}: not with --events (events are exported whole)\n",
    )


def test_history_turned_off_in_the_config_says_so(tmp_path: Path) -> None:
    """`[history] enabled = false` and no database: exit 1 naming the file and the key, not only 'no database'."""
    (tmp_path / "gw.toml").write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n\n[history]\nenabled = false\n')
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--config", str(tmp_path / "gw.toml"), "info"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"no history database at {tmp_path / 'history.db'}"
        f" ({tmp_path / 'gw.toml'}: history.enabled = false: this gateway keeps no history)\n",
    )
