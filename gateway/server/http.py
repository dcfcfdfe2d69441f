"""Plain HTTP on the WebSocket port: dashboard files, /healthz, /metrics, and the Origin/Host checks.

Served through websockets' ``process_request`` hook, so one port and one URL serve both the page and the
stream.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import mimetypes
import socket
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

STATIC_ROOT = Path(__file__).parent.parent / "static"
VENDOR_CACHE = "public, max-age=31536000, immutable"
APP_CACHE = "no-cache"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


def response(
    status: HTTPStatus,
    body: bytes | str,
    content_type: str = "text/plain; charset=utf-8",
    extra: dict[str, str] | None = None,
) -> Response:
    """Build a complete HTTP response."""
    data = body.encode() if isinstance(body, str) else body
    headers = Headers(
        {
            "Content-Type": content_type,
            "Content-Length": str(len(data)),
            "Date": formatdate(usegmt=True),
            "Server": "sensorcast",
            **SECURITY_HEADERS,
            **(extra or {}),
        }
    )
    return Response(status.value, status.phrase, headers, data)


def head_response(resp: Response) -> Response:
    """The answer to HEAD: ``resp``'s status and headers (Content-Length included), without its body."""
    return Response(resp.status_code, resp.reason_phrase, resp.headers, b"")


def json_response(obj: Any, status: HTTPStatus = HTTPStatus.OK) -> Response:
    """A JSON response that is never cached."""
    return response(
        status, json.dumps(obj, separators=(",", ":")), "application/json", {"Cache-Control": "no-store"}
    )


class StaticFiles:
    """Serves files below ``root`` with content types, ETags and cache headers (vendor files immutable)."""

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        self.root = root.resolve()
        self._cache: dict[Path, tuple[float, bytes, str]] = {}

    def get(self, url_path: str, request: Request) -> Response:
        """Answer GET ``url_path`` (``/`` is ``index.html``)."""
        rel = "index.html" if url_path in ("/", "/index.html") else url_path.removeprefix("/static/")
        try:
            found = self._load(rel)
        except (OSError, ValueError, RuntimeError):
            # A NUL byte (ValueError), a name over NAME_MAX, EACCES, a file removed mid-request, a symlink
            # loop (RuntimeError from resolve() before Python 3.13)...: whatever the file system objects to,
            # the client asked for something that is not served.
            found = None
        if found is None:
            return response(HTTPStatus.NOT_FOUND, "not found\n")
        path, body, etag = found
        cache = VENDOR_CACHE if rel.startswith("vendor/") else APP_CACHE
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        headers = {"Cache-Control": cache, "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return response(HTTPStatus.NOT_MODIFIED, b"", ctype, headers)
        return response(HTTPStatus.OK, body, ctype, headers)

    def _load(self, rel: str) -> tuple[Path, bytes, str] | None:
        """Return (path, body, ETag) of the file ``rel`` below the root, None if it is not one.

        Raises:
            OSError, ValueError, RuntimeError: the file system refused the name or the read.
        """
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        stat = path.stat()
        cached = self._cache.get(path)
        if cached is None or cached[0] != stat.st_mtime:
            body = path.read_bytes()
            cached = (
                stat.st_mtime,
                body,
                '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16] + '"',
            )
            self._cache[path] = cached
        return path, cached[1], cached[2]


def _host_only(host_header: str) -> str:
    if host_header.startswith("["):  # an IPv6 literal: [::1] or [::1]:8765, nothing else after the bracket
        addr, bracket, rest = host_header[1:].partition("]")
        port_ok = not rest or (rest[0] == ":" and rest[1:].isdigit())
        return addr if bracket and port_ok else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class OriginPolicy:
    """Cross-site WebSocket hijacking and DNS-rebinding defences.

    * ``Host`` must be an IP literal, ``localhost``, this machine's host name (also ``.local``) or listed.
    * ``Origin``, when sent (browsers), must be the page's own origin or listed. Clients that send none
      (scripts, Node, Python) are allowed: they are not a browser being abused by another site.
    """

    def __init__(
        self,
        allowed_origins: tuple[str, ...] = (),
        allowed_hosts: tuple[str, ...] = (),
        hostname: Callable[[], str] = socket.gethostname,
    ) -> None:
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.any_host = "*" in allowed_hosts
        name = hostname().lower()
        self.allowed_hosts = {h.lower() for h in allowed_hosts} | {"localhost", name, f"{name}.local"}

    def host_ok(self, host_header: str | None) -> bool:
        """Check the Host header."""
        if host_header is None:
            return False
        if self.any_host:
            return True
        host = _host_only(host_header.strip().lower())
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return host in self.allowed_hosts

    def origin_ok(self, origin: str | None, host_header: str | None, tls: bool) -> bool:
        """Check the Origin header against the request's own origin and the allowlist."""
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed_origins or "*" in self.allowed_origins:
            return True
        if host_header is None:
            return False
        scheme = "https" if tls else "http"
        return origin == f"{scheme}://{host_header.strip().lower()}"
