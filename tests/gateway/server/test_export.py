"""The streamed export's start-up check and its request parsing (the I/O around them is tested on sockets)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.server import export


def test_this_websockets_supports_streaming() -> None:
    """The pinned websockets has every hook the streaming relies on."""
    assert export.streaming_supported() is True


def test_a_websockets_without_create_connection_falls_back_with_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ``serve(create_connection=)`` the check says no, in one log line naming what is missing."""

    def serve(handler: Any, host: Any, port: Any) -> None:
        """A serve() of a websockets release without the hook."""

    monkeypatch.setattr(export, "serve", serve)
    with caplog.at_level(logging.WARNING, "gateway.server"):
        assert export.streaming_supported() is False
    assert [r.getMessage().split(" lacks ")[1].split(":")[0] for r in caplog.records] == [
        "serve(create_connection=)"
    ]


def test_the_head_is_parsed_by_websockets_or_handed_over() -> None:
    """A well-formed head parses into websockets' Request; one websockets refuses is None (handed over)."""
    req = export.parse_head(b"GET /api/history?sensor=x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n")
    assert req is not None and (req.method, req.path, list(req.headers.raw_items())) == (
        "GET",
        "/api/history?sensor=x",
        [("Host", "a"), ("X-A", "1")],
    )
    assert [
        export.parse_head(head)
        for head in (
            b"GET /api/history HTTP/2\r\n\r\n",
            b"GET /api/history HTTP/1.1\r\nbad header\r\n\r\n",
            b"GET /api/history HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        )
    ] == [None, None, None]
