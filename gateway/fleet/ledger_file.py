"""The fleet's ledger file (pure): every known gateway's :class:`GatewayLedger` as one bounded JSON document.

The fleet writes it on a clean stop and every :data:`gateway.fleet.ledger_store.SAVE_INTERVAL_S` while readings
come (gateway/fleet/ledger_store.py does the I/O) and reads it at start, before it subscribes, so what the
broker re-delivers across a restart (QoS 1 messages left un-acknowledged, a gateway's bridge re-publishing
after a missed PUBACK) is dropped as a duplicate, and a hole across the restart is reported as a gap.

``{"v": 1, "gateways": {"<gateway id>": <GatewayLedger.snapshot()>, ...}}``. A file that is not such a
document raises :class:`LedgerFileError` (the caller moves it aside and starts empty); invalid entries inside
a valid document are skipped and counted, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from gateway.fleet.ledger import GatewayLedger
from gateway.fleet.messages import valid_id
from gateway.fleet.registry import MAX_GATEWAYS

VERSION = 1
"""The document's ``v``: a future layout gets a new number, and an older fleet moves such a file aside."""
MAX_FILE_BYTES = 16 * 1024 * 1024
"""Largest ledger file written or read (bytes): 200 gateways x 50 sensors with a few holes each take well under
1 MiB; the cap bounds what a start reads into memory from a corrupt or hand-edited file."""


class LedgerFileError(ValueError):
    """The ledger file is not a ledger document (it is moved aside); the text never echoes the file."""


def encode_ledgers(
    ledgers: Mapping[str, GatewayLedger], max_bytes: int = MAX_FILE_BYTES
) -> tuple[bytes, int]:
    """The document of ``ledgers`` (by gateway id), at most ``max_bytes`` long.

    Gateways whose ledger would take the document past ``max_bytes`` are left out (they start empty after a
    restart, as before there was a file).

    Returns:
        The document and the number of gateways left out.
    """
    head, tail = b'{"v":%d,"gateways":{' % VERSION, b"}}"
    parts: list[bytes] = []
    size = len(head) + len(tail)
    left_out = 0
    for gw_id, led in ledgers.items():
        part = json.dumps({gw_id: led.snapshot()}, separators=(",", ":")).encode()[1:-1]
        cost = len(part) + (1 if parts else 0)
        if size + cost > max_bytes:
            left_out += 1
            continue
        parts.append(part)
        size += cost
    return head + b",".join(parts) + tail, left_out


def decode_ledgers(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> tuple[dict[str, GatewayLedger], int]:
    """The ledgers of a document :func:`encode_ledgers` wrote (or a hand-edited one).

    Returns:
        The ledgers by gateway id (at most :data:`~gateway.fleet.registry.MAX_GATEWAYS`) and the number of
        entries skipped as invalid.

    Raises:
        LedgerFileError: ``data`` is larger than ``max_bytes``, not JSON, or not a version-1 ledger document.
    """
    if len(data) > max_bytes:
        raise LedgerFileError(f"larger than {max_bytes} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise LedgerFileError("not JSON") from exc
    if not (isinstance(doc, dict) and type(doc.get("v")) is int and doc["v"] == VERSION) or not isinstance(
        doc.get("gateways"), dict
    ):
        raise LedgerFileError(f'not a ledger document (expected {{"v": {VERSION}, "gateways": {{...}}}})')
    out: dict[str, GatewayLedger] = {}
    skipped = 0
    for gw_id, snap in doc["gateways"].items():
        if not valid_id(gw_id) or len(out) >= MAX_GATEWAYS:
            skipped += 1
            continue
        out[gw_id], bad = GatewayLedger.restore(snap)
        skipped += bad
    return out, skipped
