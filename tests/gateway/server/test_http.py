"""gateway/server/http.py: responses and their headers, StaticFiles (types, caching, traversal), OriginPolicy."""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from gateway.server.http import (
    APP_CACHE,
    SECURITY_HEADERS,
    VENDOR_CACHE,
    OriginPolicy,
    StaticFiles,
    json_response,
    response,
)

INDEX = b"<!doctype html><html><body>dash</body></html>"


def req(**headers: str) -> Request:
    return Request("/", Headers({k.replace("_", "-"): v for k, v in headers.items()}))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A static root with an index, app files, a vendor file, a subdirectory, and a secret *outside* it."""
    root = tmp_path / "static"
    (root / "vendor" / "lib").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_text("export const x = 1;\n")
    (root / "style.css").write_text("body{}\n")
    (root / "data.json").write_text("{}\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "icon.svg").write_text("<svg/>")
    (root / "LICENSE").write_text("MIT\n")
    (root / "sub" / "ok.txt").write_text("inside\n")
    (root / "vendor" / "lib" / "chart.js").write_text("/* vendored */\n")
    (tmp_path / "secret.txt").write_text("outside the root\n")
    return root


@pytest.fixture
def files(site: Path) -> StaticFiles:
    return StaticFiles(site)


# -- response helpers -----------------------------------------------------------------------------------------


def test_response_has_length_type_and_security_headers() -> None:
    res = response(HTTPStatus.IM_A_TEAPOT, "é\n")
    assert (res.status_code, res.reason_phrase, res.body) == (418, "I'm a Teapot", "é\n".encode())
    assert res.headers["Content-Length"] == "3"  # bytes, not characters
    assert res.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert res.headers["Server"] == "sensorcast"
    assert res.headers["Date"].endswith(" GMT")
    for name, value in SECURITY_HEADERS.items():
        assert res.headers[name] == value
    assert "frame-ancestors 'none'" in res.headers["Content-Security-Policy"]


def test_response_extra_headers_and_bytes_body() -> None:
    res = response(HTTPStatus.OK, b"\x00\x01", "application/octet-stream", {"Retry-After": "5"})
    assert (res.body, res.headers["Content-Length"], res.headers["Retry-After"]) == (b"\x00\x01", "2", "5")
    assert res.headers["Content-Type"] == "application/octet-stream"


def test_json_response_is_compact_and_never_cached() -> None:
    res = json_response({"a": [1, 2], "b": None}, HTTPStatus.SERVICE_UNAVAILABLE)
    assert res.status_code == 503
    assert res.body == b'{"a":[1,2],"b":null}'
    assert json.loads(res.body) == {"a": [1, 2], "b": None}
    assert (res.headers["Content-Type"], res.headers["Cache-Control"]) == ("application/json", "no-store")
    assert json_response([]).status_code == 200


# -- StaticFiles ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/index.html", "/static/index.html"])
def test_index_is_served_as_html(files: StaticFiles, url: str) -> None:
    res = files.get(url, req())
    assert (res.status_code, res.body) == (200, INDEX)
    assert res.headers["Content-Type"] == "text/html; charset=utf-8"
    assert res.headers["Cache-Control"] == APP_CACHE == "no-cache"
    assert res.headers["Content-Length"] == str(len(INDEX))
    assert res.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "ctypes"),
    [
        ("style.css", {"text/css; charset=utf-8"}),
        ("data.json", {"application/json; charset=utf-8"}),
        ("app.js", {"text/javascript; charset=utf-8", "application/javascript; charset=utf-8"}),
        ("logo.png", {"image/png"}),
        ("icon.svg", {"image/svg+xml"}),
        ("sub/ok.txt", {"text/plain; charset=utf-8"}),
        ("LICENSE", {"application/octet-stream"}),
    ],
)
def test_content_types_and_charset_only_for_text(
    files: StaticFiles, site: Path, name: str, ctypes: set[str]
) -> None:
    res = files.get(f"/static/{name}", req())
    assert res.status_code == 200
    assert res.body == (site / name).read_bytes()
    assert res.headers["Content-Type"] in ctypes


def test_vendor_files_are_immutable_and_app_files_revalidated(files: StaticFiles) -> None:
    vendor = files.get("/static/vendor/lib/chart.js", req())
    assert (vendor.status_code, vendor.headers["Cache-Control"]) == (200, VENDOR_CACHE)
    assert "immutable" in VENDOR_CACHE and "max-age=31536000" in VENDOR_CACHE
    assert files.get("/static/app.js", req()).headers["Cache-Control"] == "no-cache"
    # Only the vendor/ directory at the top of the root counts, not a path merely containing "vendor".
    assert files.get("/static/sub/ok.txt", req()).headers["Cache-Control"] == "no-cache"


def test_etag_is_a_quoted_content_hash_and_if_none_match_gives_304(files: StaticFiles, site: Path) -> None:
    first = files.get("/static/app.js", req())
    etag = first.headers["ETag"]
    assert len(etag) == 18 and etag[0] == etag[-1] == '"'
    int(etag[1:-1], 16)  # hex digits
    again = files.get("/static/app.js", req())
    assert again.headers["ETag"] == etag
    not_modified = files.get("/static/app.js", req(If_None_Match=etag))
    assert (not_modified.status_code, not_modified.body) == (304, b"")
    assert not_modified.headers["ETag"] == etag and not_modified.headers["Content-Length"] == "0"
    assert not_modified.headers["Cache-Control"] == "no-cache"
    stale = files.get("/static/app.js", req(If_None_Match='"0000000000000000"'))
    assert (stale.status_code, stale.body) == (200, first.body)
    # Same content in another file: same ETag (it is a content hash, not a path hash).
    (site / "copy.js").write_bytes(first.body)
    assert files.get("/static/copy.js", req()).headers["ETag"] == etag
    assert files.get("/static/style.css", req()).headers["ETag"] != etag


def test_a_changed_file_is_reread_with_a_new_etag(files: StaticFiles, site: Path) -> None:
    old = files.get("/static/app.js", req())
    path = site / "app.js"
    path.write_text("export const x = 2;\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a distinct mtime, whatever the fs
    new = files.get("/static/app.js", req(If_None_Match=old.headers["ETag"]))
    assert (new.status_code, new.body) == (200, b"export const x = 2;\n")
    assert new.headers["ETag"] != old.headers["ETag"]


def test_a_deleted_file_is_404_even_after_being_cached(files: StaticFiles, site: Path) -> None:
    assert files.get("/static/style.css", req()).status_code == 200
    (site / "style.css").unlink()
    assert files.get("/static/style.css", req()).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/static/missing.js",
        "/static/",
        "/static/sub",
        "/static/sub/",
        "/static/vendor",
        "/static/../secret.txt",
        "/static/sub/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/..%2fsecret.txt",
        "/static/....//secret.txt",
        "/static//etc/passwd",
        "/etc/passwd",
        "/secret.txt",
        "/app.js",  # only / and /static/... map into the root
        "/static/..",
    ],
)
def test_missing_files_directories_and_traversal_are_404(files: StaticFiles, url: str) -> None:
    res = files.get(url, req())
    assert (res.status_code, res.body) == (404, b"not found\n"), url
    assert res.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "ETag" not in res.headers


@pytest.mark.parametrize(
    "url",
    [
        "/static/app\x00.js",  # NUL: ValueError from the path functions
        "/static/\x00",
        "/static/" + "a" * 256,  # over NAME_MAX: OSError ENAMETOOLONG from stat()
        "/static/" + "a" * 300 + ".js",
        "/static/" + "d/" * 2100 + "x",  # over PATH_MAX
        "/static/app.js/x",  # ENOTDIR
        "/static/loop/x",  # a symlink loop: RuntimeError from resolve() on 3.11/3.12
        "/static/loop",
    ],
)
def test_names_the_file_system_refuses_are_a_plain_404(files: StaticFiles, site: Path, url: str) -> None:
    """Regression: NUL bytes and over-long names raised out of get() (HTTP 500 and a traceback)."""
    (site / "loop").symlink_to(site / "loop")
    res = files.get(url, req())
    assert (res.status_code, res.body) == (404, b"not found\n")
    assert "ETag" not in res.headers
    assert files.get("/static/app.js", req()).status_code == 200  # and nothing is left broken


def test_dot_segments_that_stay_inside_the_root_are_fine(files: StaticFiles) -> None:
    res = files.get("/static/sub/../sub/./ok.txt", req())
    assert (res.status_code, res.body) == (200, b"inside\n")


def test_a_symlink_out_of_the_root_is_not_followed(files: StaticFiles, site: Path) -> None:
    (site / "escape.txt").symlink_to(site.parent / "secret.txt")
    (site / "escape-dir").symlink_to(site.parent)
    assert files.get("/static/escape.txt", req()).status_code == 404
    assert files.get("/static/escape-dir/secret.txt", req()).status_code == 404


def test_a_symlink_inside_the_root_is_served(files: StaticFiles, site: Path) -> None:
    (site / "alias.txt").symlink_to(site / "sub" / "ok.txt")
    assert files.get("/static/alias.txt", req()).body == b"inside\n"


def test_the_root_itself_may_be_reached_through_a_symlink(tmp_path: Path, site: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(site)
    assert StaticFiles(link).get("/static/sub/ok.txt", req()).body == b"inside\n"


def test_the_shipped_dashboard_root_has_an_index() -> None:
    res = StaticFiles().get("/", req())
    assert res.status_code == 200 and b"<html" in res.body.lower()


# -- OriginPolicy: Host -----------------------------------------------------------------------------------------


@pytest.fixture
def policy() -> OriginPolicy:
    return OriginPolicy(hostname=lambda: "MyPi")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8765",
        "192.168.1.20:8765",
        "[::1]:8765",
        "[::1]",
        "::1",
        "[fe80::1]:80",
        "localhost",
        "LOCALHOST:8765",
        "mypi",
        "mypi:8765",
        "MyPi.local:8765",
        " localhost:1 ",
    ],
)
def test_ip_literals_localhost_and_own_names_are_allowed_hosts(policy: OriginPolicy, host: str) -> None:
    assert policy.host_ok(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "attacker.example",
        "attacker.example:8765",
        "127.0.0.1.nip.io",
        "localhost.attacker.example",
        "mypi.attacker.example",
        "otherpi.local",
        "pi.lan:8765",
        "[::1].attacker.example",
        "[::1]attacker.example",
        "[::1]:",
        "[::1",
    ],
)
def test_dns_rebinding_hosts_are_refused(policy: OriginPolicy, host: str | None) -> None:
    assert not policy.host_ok(host)


def test_listed_hosts_are_allowed_case_insensitively() -> None:
    policy = OriginPolicy(allowed_hosts=("Pi.Lan",), hostname=lambda: "x")
    assert policy.host_ok("pi.lan:8765") and policy.host_ok("PI.LAN")
    assert not policy.host_ok("other.lan")


def test_star_allows_any_host_but_not_a_missing_one() -> None:
    policy = OriginPolicy(allowed_hosts=("*",), hostname=lambda: "x")
    assert policy.host_ok("anything.example:1")
    assert not policy.host_ok(None)


# -- OriginPolicy: Origin ---------------------------------------------------------------------------------------


def test_clients_without_origin_are_allowed(policy: OriginPolicy) -> None:
    assert policy.origin_ok(None, "127.0.0.1:8765", tls=False)
    assert policy.origin_ok(None, None, tls=True)


@pytest.mark.parametrize(
    ("origin", "host", "tls", "ok"),
    [
        ("http://127.0.0.1:8765", "127.0.0.1:8765", False, True),
        ("http://127.0.0.1:8765/", "127.0.0.1:8765", False, True),
        ("HTTP://MyPi.local:8765", "mypi.local:8765", False, True),
        ("http://mypi.local:8765", " MYPI.LOCAL:8765 ", False, True),
        ("https://pi.lan", "pi.lan", True, True),
        ("http://pi.lan", "pi.lan", True, False),  # scheme differs
        ("https://pi.lan", "pi.lan", False, False),
        ("http://127.0.0.1:8000", "127.0.0.1:8765", False, False),  # port differs
        ("http://127.0.0.1", "127.0.0.1:8765", False, False),
        ("http://evil.example", "127.0.0.1:8765", False, False),
        ("http://127.0.0.1:8765.evil.example", "127.0.0.1:8765", False, False),
        ("null", "127.0.0.1:8765", False, False),
        ("http://127.0.0.1:8765", None, False, False),  # nothing to compare with
        ("http://[::1]:8765", "[::1]:8765", False, True),  # a page opened on the IPv6 loopback
        ("https://[::1]", "[::1]", True, True),
        ("http://[::1]:8765", "127.0.0.1:8765", False, False),
        ("http://localhost:8765", "[::1]:8765", False, False),
    ],
)
def test_same_origin_is_the_default(
    policy: OriginPolicy, origin: str, host: str | None, tls: bool, ok: bool
) -> None:
    assert policy.origin_ok(origin, host, tls) is ok


def test_allowlisted_origins_are_accepted_from_any_host() -> None:
    policy = OriginPolicy(allowed_origins=("https://Dash.Example/",), hostname=lambda: "x")
    assert policy.origin_ok("https://dash.example", "127.0.0.1:8765", tls=False)
    assert policy.origin_ok("https://DASH.example/", None, tls=False)
    assert not policy.origin_ok("http://dash.example", "127.0.0.1:8765", tls=False)
    assert not policy.origin_ok("https://dash.example.evil", "127.0.0.1:8765", tls=False)


def test_star_origin_allows_any_origin() -> None:
    policy = OriginPolicy(allowed_origins=("*",), hostname=lambda: "x")
    assert policy.origin_ok("http://evil.example", None, tls=False)
    assert policy.origin_ok("null", "127.0.0.1", tls=True)


def test_the_hostname_is_read_once_at_construction() -> None:
    names = iter(["first", "second"])
    policy = OriginPolicy(hostname=lambda: next(names))
    assert policy.host_ok("first.local") and not policy.host_ok("second")
