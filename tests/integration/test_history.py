"""History end to end: a real SQLite file, the ``history`` control message, ``GET /api/history`` CSV/JSON, auth."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import pytest

from gateway.history.reader import HistoryReader
from tests.conftest import scaled
from tests.integration.helpers import client, make_config, running, synthetic

TOKEN = "viewer-token-0123456789"


def config(tmp_path: Path, **extra: Any) -> Any:
    return make_config(
        gateway={"data_dir": str(tmp_path)},
        history={"commit_interval_s": 0.2},
        sensors=[synthetic("wave", 0.05, ("a", "b")), {**synthetic("slow", 1.0, ("t",)), "history": "off"}],
        **extra,
    )


async def wait_stored(path: Path, sensor: str, n: int) -> None:
    reader = HistoryReader(path)
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        try:
            rows = {(d["sensor"], d["tier"]): d["rows"] for d in await asyncio.to_thread(reader.sensors)}
        except FileNotFoundError:
            rows = {}
        if rows.get((sensor, "1s"), 0) >= n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sensor}: fewer than {n} rows stored")


async def wait_final(path: Path, sensor: str, t_s: float) -> None:
    """Wait until the store holds a 1 s bucket of ``sensor`` a whole second after ``t_s``: every bucket before
    ``t_s`` is then final, so two queries of a range ending at ``t_s`` see the same rows however late the
    writer commits on a loaded machine."""
    reader = HistoryReader(path)
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        newest = {(d["sensor"], d["tier"]): d["newest_ns"] for d in await asyncio.to_thread(reader.sensors)}
        if (newest.get((sensor, "1s")) or 0) >= (t_s + 1.0) * 1e9:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sensor}: nothing stored after {t_s + 1.0}")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=scaled(10)) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_history_query_over_the_wire_in_pages(tmp_path: Path) -> None:
    """A viewer asks for history: frames under max_message_bytes, min <= mean <= max per bucket, done last; a
    sensor with history off is not_found; hello announces the capability."""
    cfg = config(tmp_path, limits={"max_message_bytes": 1024})
    async with running(cfg) as app:
        await wait_stored(tmp_path / "history.db", "wave", 2)
        now = time.time_ns()
        async with client(app.url + "?subscribe=none", max_size=2**20) as c:
            hello = await c.next()
            assert "history" in hello["caps"]
            await c.send(
                {
                    "t": "history",
                    "id": 5,
                    "sensor": "wave",
                    "fields": ["a"],
                    "from": now - 60 * 10**9,
                    "to": now,
                    "period": 1000,
                }
            )
            frames = []
            while not frames or not frames[-1]["done"]:
                raw = await asyncio.wait_for(c.ws.recv(), scaled(10))
                assert isinstance(raw, bytes) and len(raw) <= 1024
                frames.append(msgpack.unpackb(raw))
            assert [f["part"] for f in frames] == list(range(len(frames)))
            assert {(f["t"], f["ref"], f["sensor"], f["tier"], f["bucket_ns"]) for f in frames} == {
                ("history", 5, "wave", "1s", 10**9)
            }
            rows = [r for f in frames for r in f["rows"]]
            assert len(rows) >= 2
            for _t, cell in rows:
                n, lo, hi, mean, _last = cell
                assert n >= 1 and lo <= mean <= hi
            await c.send({"t": "history", "id": 6, "sensor": "slow", "from": 1, "to": now})
            err = await c.until(lambda f: f.get("ref") == 6)
            assert (err["t"], err["code"]) == ("error", "not_found")
            await c.send(
                {"t": "history", "id": 7, "sensor": "wave", "fields": ["a", "z"], "from": 1, "to": now}
            )
            err = await c.until(lambda f: f.get("ref") == 7)
            assert (err["t"], err["code"], err["msg"]) == (
                "error",
                "unknown_field",
                "fields: sensor 'wave' has no field 'z' (its fields: a, b, n)",
            )


async def test_http_csv_and_json_export_with_auth(tmp_path: Path) -> None:
    """/api/history needs a Bearer token when tokens exist (401 without, never from the URL); CSV parses back
    with a header row carrying units; JSON carries the same rows; bad parameters get 400 naming the key."""
    cfg = config(tmp_path, security={"tokens": [{"name": "v", "role": "viewer", "token": TOKEN}]})
    async with running(cfg) as app:
        await wait_stored(tmp_path / "history.db", "wave", 6)  # >= 3 whole buckets end before now - 1.5 s
        now = time.time()
        await wait_final(tmp_path / "history.db", "wave", now - 1.5)  # the CSV and JSON answers must agree
        base = app.http_url + f"api/history?sensor=wave&fields=a,b&from={now - 60:.3f}&to={now - 1.5:.3f}"
        status, headers, body = await asyncio.to_thread(get, base)
        assert (status, headers.get("WWW-Authenticate")) == (401, 'Bearer realm="sensorcast"')
        auth = {"Authorization": f"Bearer {TOKEN}"}
        status, headers, body = await asyncio.to_thread(get, base + "&period=1s&format=csv", auth)
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert body.count(b"\r\n") == body.count(b"\n")
        table = list(csv.reader(io.StringIO(body.decode())))
        assert table[0] == [
            "time_utc",
            "ts_ns",
            "a n",
            "a min",
            "a max",
            "a mean",
            "a last",
            "b n",
            "b min",
            "b max",
            "b mean",
            "b last",
        ]
        assert len(table) >= 3
        for row in table[1:]:
            assert row[0].endswith("Z") and int(row[1]) > 0
            assert float(row[3]) <= float(row[5]) <= float(row[4])
        status, headers, body = await asyncio.to_thread(get, base + "&period=1s&format=json", auth)
        doc = json.loads(body)
        assert (status, doc["fields"], doc["tier"], doc["next"]) == (200, ["a", "b"], "1s", None)
        assert [r[0] for r in doc["rows"]] == [int(r[1]) for r in table[1:]]
        status, _, body = await asyncio.to_thread(get, base + "&period=fast", auth)
        assert (status, body) == (400, b"period: expected a duration such as 60s, 5m, 1h, 1d, got 'fast'\n")
        status, _, body = await asyncio.to_thread(get, app.http_url + "api/history?sensor=nope", auth)
        assert (status, body) == (404, b"no history for sensor 'nope' (sensors with history: wave)\n")
        status, _, body = await asyncio.to_thread(get, base.replace("fields=a,b", "fields=a,nope"), auth)
        assert (status, body) == (400, b"fields: sensor 'wave' has no field 'nope' (its fields: a, b, n)\n")


@pytest.mark.parametrize("enabled", [False])
async def test_history_off(tmp_path: Path, enabled: bool) -> None:
    """With [history] enabled = false nothing is written, hello has no history cap, the endpoint says so."""
    cfg = make_config(
        gateway={"data_dir": str(tmp_path)}, history={"enabled": enabled}, sensors=[synthetic()]
    )
    async with running(cfg) as app:
        async with client(app.url + "?subscribe=none") as c:
            assert "history" not in (await c.next())["caps"]
        status, _, body = await asyncio.to_thread(get, app.http_url + "api/history?sensor=wave")
        assert (status, body) == (404, b"history is off on this gateway ([history] enabled)\n")
    assert not (tmp_path / "history.db").exists()


def test_cli_info_and_export(tmp_path: Path) -> None:
    """`sensorcast history info` lists sensors and tiers; `export` writes RFC 4180 CSV raw and bucketed."""
    import subprocess
    import sys

    from gateway.history.store import HistoryStore

    db = tmp_path / "h.db"
    st = HistoryStore(db, units={"env": {"t": "°C"}})
    st._open()
    t0 = 1_790_000_000 * 10**9
    st.on_batch([(i + 1, 0, t0 + i * 10**9, "env", {"t": 20 + i % 5, "note": "a,b"}, 0) for i in range(180)])
    st.commit(final=True)
    base = [sys.executable, "-m", "gateway", "history", "--db", str(db)]
    info = subprocess.run([*base, "info"], capture_output=True, text=True, timeout=scaled(30))
    assert info.returncode == 0
    assert [line.split()[:3] for line in info.stdout.splitlines()[2:5]] == [
        ["env", "raw", "180"],
        ["env", "1m", "4"],
        ["env", "1h", "1"],
    ]
    out = subprocess.run(
        [*base, "export", "--sensor", "env", "--from", str(t0 // 10**9), "--to", "1790000003.5"],
        capture_output=True,
        timeout=scaled(30),
    )
    assert out.returncode == 0
    assert out.stdout.decode().split("\r\n") == [
        "time_utc,ts_ns,t (°C),note",
        f'2026-09-21T14:13:20.000000Z,{t0},20,"a,b"',
        f'2026-09-21T14:13:21.000000Z,{t0 + 10**9},21,"a,b"',
        f'2026-09-21T14:13:22.000000Z,{t0 + 2 * 10**9},22,"a,b"',
        f'2026-09-21T14:13:23.000000Z,{t0 + 3 * 10**9},23,"a,b"',
        "",
    ]
    out = subprocess.run(
        [
            *base,
            "export",
            "--sensor",
            "env",
            "--fields",
            "t",
            "--from",
            "2026-09-21T14:13:20Z",
            "--to",
            "2026-09-21T14:16:20Z",
            "--period",
            "1m",
        ],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    table = list(csv.reader(io.StringIO(out.stdout)))
    assert table[0] == ["time_utc", "ts_ns", "t n", "t min (°C)", "t max (°C)", "t mean (°C)", "t last (°C)"]
    assert [(r[2], r[3], r[4]) for r in table[1:]] == [
        ("40", "20", "24"),
        ("60", "20", "24"),
        ("60", "20", "24"),
        ("20", "20", "24"),
    ]
    missing = subprocess.run(
        [*base, "export", "--sensor", "nope", "--from", "0"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (missing.returncode, missing.stderr) == (
        1,
        "no history for sensor 'nope' (sensors with history: env)\n",
    )
    note = subprocess.run(
        [
            *base,
            "export",
            "--sensor",
            "env",
            "--fields",
            "note",
            "--from",
            str(t0 // 10**9),
            "--to",
            "1790000001.5",
        ],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (note.returncode, note.stdout.split("\n"), note.stderr) == (
        0,
        [
            "time_utc,ts_ns,note",
            f'2026-09-21T14:13:20.000000Z,{t0},"a,b"',
            f'2026-09-21T14:13:21.000000Z,{t0 + 10**9},"a,b"',
            "",
        ],
        "",
    )


async def test_http_export_pages_where_websockets_cannot_be_sniffed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback (a websockets without what the streaming relies on): past the per-response row bound the
    answer names the next request (Link rel=next, X-Sensorcast-Next); following it continues exactly after the
    last row, and the last page has no cursor."""
    monkeypatch.setattr("gateway.history.http.MAX_HTTP_ROWS", 5)
    monkeypatch.setattr("gateway.server.connections.streaming_supported", lambda: False)
    db = tmp_path / "history.db"
    from gateway.history.store import HistoryStore

    st = HistoryStore(db, policies={"wave": "raw"})
    st._open()
    t0 = (time.time_ns() // 10**9 - 100) * 10**9
    st.on_batch([(i + 1, 0, t0 + i * 10**9, "wave", {"a": i}, 0) for i in range(12)])
    st.commit(final=True)
    assert st._conn is not None
    st._conn.close()
    cfg = make_config(gateway={"data_dir": str(tmp_path)}, sensors=[synthetic("other", 1.0, ("x",))])
    async with running(cfg) as app:
        url = app.http_url + f"api/history?sensor=wave&from={t0 // 10**9}&to={t0 // 10**9 + 50}&format=json"
        seen: list[int] = []
        pages = 0
        while url:
            status, headers, body = await asyncio.to_thread(get, url)
            assert status == 200
            doc = json.loads(body)
            seen += [r[1] for r in doc["rows"]]
            pages += 1
            link = headers.get("Link")
            if doc["next"] is None:
                assert link is None and "X-Sensorcast-Next" not in headers
                break
            assert headers["X-Sensorcast-Next"] == f"{doc['next'] // 10**9}.{doc['next'] % 10**9:09d}"
            assert link is not None and link.endswith('>; rel="next"')
            url = app.http_url.rstrip("/") + link[1 : link.index(">")]
        assert (seen, pages) == (list(range(12)), 3)


async def test_rule_events_are_stored_and_served_by_http_and_the_cli(tmp_path: Path) -> None:
    """A rule that fires on a running gateway is kept in the store: /api/events (Bearer token only) serves it
    as CSV and JSON; `sensorcast history export --events` writes the same event from the file."""
    import subprocess
    import sys

    rule = {"id": "counted", "sensor": "wave", "field": "n", "when": "above", "threshold": 3}
    cfg = config(
        tmp_path, security={"tokens": [{"name": "v", "role": "viewer", "token": TOKEN}]}, rules=[rule]
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running(cfg) as app:
        url = app.http_url + "api/events?format=csv"
        deadline = time.monotonic() + scaled(10)
        table: list[list[str]] = []
        while len(table) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            status, headers, body = await asyncio.to_thread(get, url, auth)
            assert status == 200 and headers["Content-Type"].startswith("text/csv")
            table = list(csv.reader(io.StringIO(body.decode())))
        status, headers, _ = await asyncio.to_thread(get, url)
        assert (status, headers.get("WWW-Authenticate")) == (401, 'Bearer realm="sensorcast"')
        status, _, body = await asyncio.to_thread(get, url + "&sensor=wave&format=json", auth)
        assert status == 400 and body == b"format: given more than once\n"
        status, _, body = await asyncio.to_thread(get, app.http_url + "api/events?sensor=wave", auth)
        doc = json.loads(body)
    assert table[0] == ["time_utc", "ts_ns", "sensor", "rule", "field", "state", "value", "threshold",
                        "severity", "acked_by"]  # fmt: skip
    assert [r[2:6] + r[7:] for r in table[1:]] == [["wave", "counted", "n", "active", "3.0", "warning", ""]]
    event = doc["events"][0]
    assert (status, doc["next"], len(doc["events"])) == (200, None, 1)
    assert {k: event[k] for k in ("rule", "sensor", "field", "state", "threshold", "acked_by")} == {
        "rule": "counted", "sensor": "wave", "field": "n", "state": "active", "threshold": 3.0, "acked_by": None
    }  # fmt: skip
    assert event["ts"] == int(table[1][1]) and event["value"] > 3
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "history", "--db", str(tmp_path / "history.db"), "export", "--events",
         "--from", "0", "--format", "json"],
        capture_output=True, text=True, timeout=scaled(30),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"events": [event], "next": None}  # the HTTP document, streamed


async def test_an_unusable_data_dir_tells_one_story(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """data_dir is a file: history logs one error saying it is off, and no line claiming it runs."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = make_config(
        gateway={"data_dir": str(blocker)},
        history={"commit_interval_s": 0.2},
        sensors=[synthetic("wave", 0.05)],
    )
    caplog.set_level("INFO", logger="gateway.history")
    async with running(cfg):
        await asyncio.sleep(0.5)
    lines = [
        (r.levelname, r.getMessage().split(" (")[0], r.getMessage().endswith("history is off for this run"))
        for r in caplog.records
        if r.name.startswith("gateway.history")
    ]
    assert lines == [("ERROR", f"history: cannot create {blocker}", True)]


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "paged"])
async def test_events_of_an_unknown_sensor_are_a_404_like_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """/api/events?sensor=<typo> answers 404 naming the sensors with history (as /api/history does), on the
    streamed path and on the paged fallback; a known sensor without events stays 200 with an empty list."""
    if not streamed:
        monkeypatch.setattr("gateway.server.connections.streaming_supported", lambda: False)
    from gateway.history.store import HistoryStore

    st = HistoryStore(tmp_path / "history.db", policies={"wave": "raw"})
    st._open()
    t0 = (time.time_ns() // 10**9 - 100) * 10**9
    st.on_batch([(i + 1, 0, t0 + i * 10**9, "wave", {"a": i}, 0) for i in range(3)])
    st.commit(final=True)
    assert st._conn is not None
    st._conn.close()
    cfg = make_config(gateway={"data_dir": str(tmp_path)}, sensors=[synthetic("other", 1.0, ("x",))])
    answers = []
    async with running(cfg) as app:
        for query in ("sensor=freezr", "sensor=wave", "sensor=freezr&format=csv", ""):
            status, _, body = await asyncio.to_thread(get, app.http_url + "api/events?" + query)
            answers.append((status, body.rstrip(b"\n")))  # the paged JSON ends without a newline
    missing = (404, b"no history for sensor 'freezr' (sensors with history: wave)")
    assert answers == [missing, (200, b'{"events":[],"next":null}'), missing, answers[3]]
    assert answers[3][0] == 200 and json.loads(answers[3][1])["events"] == []
