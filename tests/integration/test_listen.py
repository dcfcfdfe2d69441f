"""gateway/server/listen.py with real sockets: `localhost` is 127.0.0.1 and ::1 on one port, a client connects over
::1, and a machine without an IPv6 loopback still starts (on 127.0.0.1, saying so once)."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import msgpack
import pytest
from websockets.asyncio.client import connect

from gateway.config import GatewaySection, is_loopback
from gateway.server.listen import PORT_PICK_ATTEMPTS, bind, listen_hosts
from tests.conftest import scaled
from tests.integration.helpers import make_config, running, synthetic


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(
    not _has_ipv6_loopback(), reason="this kernel has no IPv6 loopback (::1 cannot be bound): nothing to test"
)


def test_listen_hosts_maps_only_localhost_to_both_loopbacks() -> None:
    """`localhost` stands for 127.0.0.1 and ::1; every other value, 0.0.0.0 and :: included, for itself."""
    hosts = ["localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "192.168.1.20"]
    assert [listen_hosts(h) for h in hosts] == [
        ("127.0.0.1", "::1"),
        ("127.0.0.1",),
        ("::1",),
        ("0.0.0.0",),
        ("::",),
        ("192.168.1.20",),
    ]


def test_default_host_is_localhost_and_loopback() -> None:
    """The default listen address is `localhost`, and it and ::1 count as loopback (no token needed)."""
    assert GatewaySection().host == "localhost"
    assert [is_loopback(h) for h in ("localhost", "::1", "127.0.0.1", "0.0.0.0", "::")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def _bound(app_server: object) -> list[tuple[str, int]]:
    sockets = app_server.server.sockets  # type: ignore[attr-defined]
    return sorted((s.getsockname()[0], s.getsockname()[1]) for s in sockets)


@needs_ipv6
async def test_localhost_serves_both_loopbacks_on_one_port_and_a_client_connects_over_ipv6() -> None:
    """`localhost` listens on 127.0.0.1 and ::1 with one port; a client on ws://[::1]:port (Host: [::1]:port)
    and one on 127.0.0.1 both get the hello."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], gateway={"host": "localhost"})
    async with running(cfg) as app:
        port = app.port
        assert _bound(app.server) == [("127.0.0.1", port), ("::1", port)]
        assert app.url == f"ws://127.0.0.1:{port}/"
        hellos = []
        for url in (f"ws://[::1]:{port}/", f"ws://127.0.0.1:{port}/"):
            async with connect(url, open_timeout=scaled(5)) as ws:
                raw = await asyncio.wait_for(ws.recv(), scaled(5))
                assert isinstance(raw, bytes)
                hellos.append(msgpack.unpackb(raw)["t"])
        assert hellos == ["hello", "hello"]


async def test_an_explicit_ipv4_address_listens_on_that_address_only() -> None:
    """host = "127.0.0.1" keeps its meaning: IPv4 loopback only."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], gateway={"host": "127.0.0.1"})
    async with running(cfg) as app:
        assert _bound(app.server) == [("127.0.0.1", app.port)]


@needs_ipv6
async def test_port_zero_retries_when_the_picked_port_is_taken_on_ipv6() -> None:
    """Port 0: when another socket takes the picked port on ::1 first, binding retries on a new common port."""
    loop = asyncio.get_running_loop()
    squatters: list[socket.socket] = []
    calls: list[tuple[tuple[str, ...], int]] = []

    async def start(hosts: Sequence[str], port: int) -> asyncio.Server:
        calls.append((tuple(hosts), port))
        if len(calls) == 1:  # the race: someone binds [::1]:port between the pick and our bind
            squatter = socket.socket(socket.AF_INET6)
            squatter.bind(("::1", port))
            squatter.listen()
            squatters.append(squatter)
        return await loop.create_server(asyncio.Protocol, list(hosts), port)

    try:
        server = await bind(start, "localhost", 0)
        try:
            ports = {s.getsockname()[1] for s in server.sockets}
            assert len(calls) == 2 and calls[0][1] != calls[1][1]
            assert [c[0] for c in calls] == [("127.0.0.1", "::1")] * 2
            assert ports == {calls[1][1]} and len(server.sockets) == 2
        finally:
            server.close()
            await server.wait_closed()
    finally:
        for s in squatters:
            s.close()


@needs_ipv6
async def test_a_fixed_port_taken_on_ipv6_is_an_error_not_a_retry() -> None:
    """A configured port already used on ::1 fails with EADDRINUSE at once (the CLI reports it), no retries."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET6) as squatter:
        squatter.bind(("::1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        calls: list[int] = []

        async def start(hosts: Sequence[str], p: int) -> asyncio.Server:
            calls.append(p)
            return await loop.create_server(asyncio.Protocol, list(hosts), p)

        with pytest.raises(OSError) as info:
            await bind(start, "localhost", port)
    assert (info.value.errno, calls) == (errno.EADDRINUSE, [port])
    assert PORT_PICK_ATTEMPTS > 1


# A gateway started in a network namespace whose loopback has IPv6 switched off: no ::1 to bind.
_NO_IPV6_SCRIPT = textwrap.dedent(
    """
    import fcntl, json, socket, struct, subprocess, sys, time, urllib.request
    try:
        with open("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "w") as f:
            f.write("1")
    except OSError as exc:  # e.g. /proc/sys read-only inside a container
        print(json.dumps({"skip": f"cannot switch IPv6 off in a network namespace here: {exc.strerror}"}))
        raise SystemExit(0)
    with socket.socket() as s:  # a new namespace's lo is down: ifconfig lo up (SIOCSIFFLAGS, IFF_UP)
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0x1))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dashboard = proc.stdout.readline() and proc.stdout.readline()
    port = int(dashboard.rsplit(":", 1)[1].strip("/\\n"))
    status = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).status
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    print(json.dumps({"dashboard": dashboard.strip(), "status": status, "rc": proc.returncode,
                      "warnings": [l for l in err.splitlines() if "IPv6" in l]}))
    """
)


def test_without_an_ipv6_loopback_localhost_falls_back_to_ipv4_with_one_log_line() -> None:
    """On a machine with no ::1 the default `localhost` still starts: 127.0.0.1 answers, one warning says why."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing: cannot make a network namespace without IPv6")
    if subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode != 0:
        pytest.skip("unshare --net is not permitted here (needs root or user namespaces)")
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", _NO_IPV6_SCRIPT],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    if "skip" in result:
        pytest.skip(result["skip"])
    assert result["dashboard"].startswith("Dashboard: http://127.0.0.1:")
    assert (result["status"], result["rc"]) == (200, 0)
    assert len(result["warnings"]) == 1
    assert result["warnings"][0].endswith(
        "no IPv6 loopback (::1) on this machine: listening on 127.0.0.1 only"
    )
