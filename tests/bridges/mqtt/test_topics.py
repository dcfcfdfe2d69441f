"""Topic layout."""

from __future__ import annotations

from bridges.mqtt.topics import Topics, safe_level


def test_layout() -> None:
    """Every topic of a gateway is prefix/gw/... as documented in docs/mqtt.md."""
    t = Topics("home/sc", "pi-1")
    assert [
        t.base,
        t.status,
        t.gateway_meta,
        t.data("env"),
        t.meta("env"),
        t.health("env"),
        t.command("relay1"),
        t.result("relay1"),
        t.command_filter,
    ] == [
        "home/sc/pi-1",
        "home/sc/pi-1/status",
        "home/sc/pi-1/meta",
        "home/sc/pi-1/env/data",
        "home/sc/pi-1/env/meta",
        "home/sc/pi-1/env/health",
        "home/sc/pi-1/relay1/set",
        "home/sc/pi-1/relay1/result",
        "home/sc/pi-1/+/set",
    ]


def test_parse_command_accepts_only_this_gateways_set_topics() -> None:
    """Only <base>/<target>/set yields a target."""
    t = Topics("sc", "gw")
    assert [
        t.parse_command(x)
        for x in (
            "sc/gw/relay1/set",
            "sc/gw/relay1/result",
            "sc/other/relay1/set",
            "sc/gw//set",
            "sc/gw/a/b/set",
            "sc/gw/set",
        )
    ] == ["relay1", None, None, None, None, None]


def test_safe_level() -> None:
    """Characters outside [A-Za-z0-9_-] become underscores; an empty name becomes '_'."""
    assert [safe_level(s) for s in ("env", "temp.c", "a/b+#", "", "µ")] == [
        "env",
        "temp_c",
        "a_b__",
        "_",
        "_",
    ]
