"""gateway.fleet.ledger_file: every gateway's ledger as one bounded JSON document, and back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fleet import ledger_file as F
from gateway.fleet.ledger import GatewayLedger
from gateway.fleet.ledger_file import LedgerFileError, decode_ledgers, encode_ledgers
from gateway.fleet.registry import MAX_GATEWAYS


def _ledger(*offers: tuple[str, str, int, int]) -> GatewayLedger:
    led = GatewayLedger()
    for o in offers:
        led.offer(*o)
    return led


def test_the_document_round_trips_every_gateways_ledger() -> None:
    """encode -> decode gives each gateway's ledger back (same snapshot, same verdicts), nothing skipped."""
    ledgers = {
        "g1": _ledger(("b", "s", 3, 0), ("b", "s", 9, 5)),
        "g2": _ledger(("c", "t", 1, 0)),
        "g3": _ledger(),
    }
    data, left_out = encode_ledgers(ledgers)
    assert left_out == 0 and json.loads(data)["v"] == F.VERSION
    back, skipped = decode_ledgers(data)
    assert skipped == 0
    assert {k: v.snapshot() for k, v in back.items()} == {k: v.snapshot() for k, v in ledgers.items()}
    assert [back["g1"].offer("b", "s", *o).kind for o in [(9, 5), (5, 3), (4, 3), (10, 9)]] == [
        "duplicate",
        "fill",
        "duplicate",
        "new",
    ]


def test_gateways_past_the_size_cap_are_left_out_and_counted() -> None:
    """A document that would pass max_bytes leaves out the gateways that do not fit (and says how many); what
    it holds stays within the cap and decodes."""
    ledgers = {f"g{i}": _ledger(("b", "s", 3, 0)) for i in range(10)}
    one, _ = encode_ledgers({"g0": ledgers["g0"]})
    data, left_out = encode_ledgers(ledgers, max_bytes=len(one) * 2)
    back, skipped = decode_ledgers(data)
    assert len(data) <= len(one) * 2 and skipped == 0
    assert (list(back), left_out) == (["g0", "g1"], 8)
    assert encode_ledgers({}, max_bytes=5) == (b'{"v":1,"gateways":{}}', 0)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00" * (F.MAX_FILE_BYTES + 1), "larger than"),
        (b'{"v": 1, "gateways": {', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"[]", "not a ledger document"),
        (b'{"v": 2, "gateways": {}}', "not a ledger document"),
        (b'{"v": 1, "gateways": []}', "not a ledger document"),
        (b'{"v": true, "gateways": {}}', "not a ledger document"),
    ],
    ids=["too-big", "truncated", "binary", "deep", "list", "version", "gateways-list", "bool-version"],
)
def test_a_file_that_is_not_a_ledger_document_raises_without_echoing_it(data: bytes, why: str) -> None:
    """Too big, not JSON, too deep, another shape or version: LedgerFileError naming what was expected."""
    with pytest.raises(LedgerFileError, match=why) as info:
        decode_ledgers(data)
    assert isinstance(info.value, ValueError) and "\\x" not in str(info.value)


def test_invalid_gateway_ids_and_entries_are_skipped_and_counted() -> None:
    """Gateway ids that are not plain ids are skipped, invalid entries inside a gateway's snapshot too; the
    valid ones are restored."""
    good = _ledger(("b", "s", 2, 0)).snapshot()
    doc = {
        "v": 1,
        "gateways": {
            "g/1": good,
            "": good,
            "g" * 40: good,
            "ok": good,
            "bad": "x",
            "partly": {**good, "boots": [1]},
        },
    }
    back, skipped = decode_ledgers(json.dumps(doc).encode())
    assert sorted(back) == ["bad", "ok", "partly"]
    assert back["ok"].snapshot() == good
    assert back["bad"].snapshot() == GatewayLedger().snapshot()
    assert back["partly"].snapshot() == {**good, "boots": []}
    assert skipped == 3 + 1 + 1


def test_no_more_than_max_gateways_are_restored() -> None:
    """A document naming more than MAX_GATEWAYS gateways restores the first MAX_GATEWAYS and counts the rest."""
    doc = {"v": 1, "gateways": {f"g{i}": {"boots": [], "counters": {}} for i in range(MAX_GATEWAYS + 2)}}
    back, skipped = decode_ledgers(json.dumps(doc).encode())
    assert (len(back), skipped) == (MAX_GATEWAYS, 2)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_either_decode_within_the_limits_or_raise_ledger_file_error(data: bytes) -> None:
    """Property: arbitrary bytes never raise anything but LedgerFileError."""
    try:
        back, _ = decode_ledgers(data)
    except LedgerFileError:
        return
    assert len(back) <= MAX_GATEWAYS
