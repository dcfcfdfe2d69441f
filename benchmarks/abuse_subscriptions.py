"""Hostile control messages against the gateway a user starts (issue 20 items 1, 2, 6, 7): a table of figures.

    .venv/bin/python benchmarks/abuse_subscriptions.py                 # the recorded run (~45 s)
    .venv/bin/python benchmarks/abuse_subscriptions.py --flood-s 4     # shorter

A `sensorcast run` subprocess (10 `synthetic` sensors at 50 Hz, one named `env`) listens on 127.0.0.1. Then:

1. malformed messages: big integers as id/ts/value (JSON), 1000-deep msgpack and JSON, NaN, extension types...
   each must get an error frame; the gateway's output must hold no traceback;
2. subscription floods: one connection sends 18 messages/s (under the 20/s limit) of 256 paths `env.f<n>` for
   --flood-s seconds, growing (`replace: false`) or replacing; meanwhile a probe client pings every 60 ms. The
   table gives the probe's round-trip p99 and max (event-loop lag as clients see it; target p99 < 50 ms) and the
   baseline measured the same way without a flood;
3. pattern flood: 256 distinct patterns like `*?*?...<n>` per message, 18/s for --flood-s seconds; RSS of the
   gateway before, and 2 s after the attacker has gone (target: + < 2 MB).

All traffic goes to 127.0.0.1; every phase is bounded by --flood-s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.browser.gateway_proc import GatewayProcess, synthetic, write_config  # noqa: E402

BIG = "100000000000000000000000"
MALFORMED: list[str | bytes] = [
    '{"t":"ping","id":' + BIG + "}",
    '{"t":"ping","ts":' + BIG + "}",
    '{"t":"nope","id":' + BIG + "}",
    '{"t":"command","target":"relay1","value":' + BIG + "}",
    '{"t":"resume","boot":"x","seq":' + BIG + "}",
    '{"t":"subscribe","subscribe":[{"path":"env","period":' + BIG + "}]}",
    '{"t":"ping","ts":NaN}',
    '{"t":"ping","ts":1e999}',
    '{"t":"ping","ts":' + "[" * 900 + "]" * 900 + "}",
    "[" * 60000,
    bytes.fromhex("81a174") + b"\x91" * 1000 + b"\xc0",
    b"\x82\xa1t\xa9subscribe\xa9subscribe\x91\x82\xa4path\xa1x\xa6policy" + b"\x91" * 1000 + b"\xc0",
    msgpack.packb({"t": "ping", "ts": float("nan")}),
    msgpack.packb({"t": "ping", "ts": msgpack.ExtType(1, b"abc")}),
    msgpack.packb({"t": "ping", "ts": msgpack.ExtType(2, b"")}),
    msgpack.packb({"t": "ping", "id": "x" * 5000}),
    b"\xdd\xff\xff\xff\xff",
]


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def next_frame(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    """The next decoded server frame."""
    frame: dict[str, Any] = msgpack.unpackb(await asyncio.wait_for(ws.recv(), timeout_s))
    return frame


async def malformed(url: str) -> tuple[int, int]:
    """Send every malformed message (one connection each); return (sent, answered with an error frame)."""
    answered = 0
    for data in MALFORMED:
        async with connect(url + "?subscribe=none", max_size=None) as ws:
            await next_frame(ws)  # hello
            await ws.send(data)
            try:
                while (f := await next_frame(ws))["t"] not in ("error", "pong", "ack"):
                    pass
                answered += f["t"] == "error"
            except Exception:  # a close instead of an error frame counts as not answered
                pass
    return len(MALFORMED), answered


async def probe(url: str, stop: asyncio.Event) -> list[float]:
    """Ping every 60 ms until ``stop``; return round-trip times in ms."""
    rtts: list[float] = []
    async with connect(url + "?subscribe=none") as ws:
        await next_frame(ws)
        n = 0
        while not stop.is_set():
            n += 1
            t0 = time.perf_counter()
            await ws.send(json.dumps({"t": "ping", "id": n}))
            while (f := await next_frame(ws, 60.0))["t"] != "pong" or f["ref"] != n:
                pass
            rtts.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.06)  # ~15 pings/s: under the 20/s control-message limit
    return rtts


async def flood(url: str, seconds: float, paths: Any, replace: bool) -> tuple[int, int]:
    """18 subscribe messages/s of 256 paths for ``seconds``; return (messages, error replies)."""
    sent = errors = 0
    frames = [  # encoded up front: the attacker's own work must not delay the probe that shares its process
        msgpack.packb(
            {"t": "subscribe", "id": m, "replace": replace, "subscribe": [{"path": p} for p in paths(m)]}
        )
        for m in range(int(seconds * 18))
    ]
    async with connect(url + "?subscribe=none", max_size=None) as ws:
        await next_frame(ws)

        async def drain() -> None:
            nonlocal errors
            async for raw in ws:
                errors += isinstance(raw, bytes) and b"\xa5error" in raw[:16]

        reader = asyncio.get_running_loop().create_task(drain())
        start = time.monotonic()
        for m, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, start + m / 18 - time.monotonic()))
            await ws.send(frame)
            sent += 1
        await asyncio.sleep(0.5)
        reader.cancel()
    return sent, errors


async def lag_under(url: str, seconds: float, paths: Any, replace: bool | None) -> dict[str, float]:
    """Probe round trips while a flood runs (``replace`` None: no flood, the baseline)."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(probe(url, stop))
    sent = errors = 0
    if replace is None:
        await asyncio.sleep(seconds)
    else:
        sent, errors = await flood(url, seconds, paths, replace)
    stop.set()
    rtts = sorted(await task)
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    return {"p50": statistics.median(rtts), "p99": p99, "max": rtts[-1], "sent": sent, "errors": errors}


def env_paths(m: int) -> list[str]:
    """256 distinct paths per message: env.f<n>."""
    return [f"env.f{m * 256 + n}" for n in range(256)]


def star_patterns(m: int) -> list[str]:
    """256 distinct wildcard patterns per message: *?*?...<n>."""
    return [f"env.{'*?' * 40}{m * 256 + n}" for n in range(256)]


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        sensors = [synthetic("env", 0.02, ["f1", "f2"])] + [synthetic(f"s{i}", 0.02, ["a"]) for i in range(9)]
        cfg = write_config(Path(tmp) / "gw.toml", sensors=sensors)
        gw = GatewayProcess(cfg, Path(tmp))
        url = gw.start().replace("http://", "ws://")
        assert gw.proc is not None
        pid = gw.proc.pid
        try:
            await asyncio.sleep(1.0)
            sent, answered = await malformed(url)
            rows: list[tuple[str, str, str]] = [
                ("malformed messages answered with an error frame", f"{answered}/{sent}", f"{sent}/{sent}")
            ]
            base = await lag_under(url, args.flood_s, env_paths, None)
            rows.append(
                ("probe RTT p99 / max, no flood (baseline)", f"{base['p99']:.1f} / {base['max']:.1f} ms", "")
            )
            for name, replace in (("growing (replace: false)", False), ("replacing (replace: true)", True)):
                r = await lag_under(url, args.flood_s, env_paths, replace)
                rows.append(
                    (
                        f"probe RTT p99 / max, env.f<n> flood {name}",
                        f"{r['p99']:.1f} / {r['max']:.1f} ms ({r['sent']:.0f} msgs, {r['errors']:.0f} refused)",
                        "p99 < 50 ms",
                    )
                )
            before = rss_kib(pid)
            r = await lag_under(url, args.flood_s, star_patterns, True)
            rows.append(
                (
                    "probe RTT p99 / max, *?*?...<n> pattern flood",
                    f"{r['p99']:.1f} / {r['max']:.1f} ms ({r['sent']:.0f} msgs)",
                    "p99 < 50 ms",
                )
            )
            await asyncio.sleep(2.0)
            after = rss_kib(pid)
            rows.append(
                (
                    "gateway RSS before -> 2 s after the pattern flood",
                    f"{before / 1024:.1f} -> {after / 1024:.1f} MiB ({(after - before) / 1024:+.2f} MiB)",
                    "+ < 2 MB",
                )
            )
        finally:
            gw.stop()
        tracebacks = sum("Traceback" in line or "handler failed" in line for line in gw.output)
        rows.append(("tracebacks in the gateway's output", str(tracebacks), "0"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<48}  target")
    for what, result, target in rows:
        print(f"{what:<{width}}  {result:<48}  {target}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flood-s", type=float, default=8.0, help="seconds per flood phase (default 8)")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
