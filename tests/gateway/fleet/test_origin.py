"""The fleet's origin table and the opt-in ``origin`` frame (pure)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fleet.origin import OriginTable, encode_origin, wants_origin


def test_the_table_keeps_the_last_size_origins_and_forgets_the_oldest_first() -> None:
    """With size 3, adding fleet seqs 1..5 keeps 3..5; rows() lists the known ones in the order asked."""
    t = OriginTable(3)
    for s in range(1, 6):
        t.add(s, "b1", 100 + s)
    assert len(t) == 3
    assert [t.get(s) for s in range(1, 6)] == [None, None, ("b1", 103), ("b1", 104), ("b1", 105)]
    assert t.rows([5, 1, 3, 9]) == [[5, "b1", 105], [3, "b1", 103]]


def test_a_table_of_no_entries_is_refused() -> None:
    """size 0 would keep nothing: a ValueError, not a silent table."""
    with pytest.raises(ValueError):
        OriginTable(0)


@given(st.lists(st.tuples(st.text(max_size=8), st.integers(1, 2**63 - 1)), max_size=50), st.integers(1, 20))
def test_the_table_is_bounded_and_holds_exactly_the_latest(origins: list[tuple[str, int]], size: int) -> None:
    """Whatever is added, the table holds exactly the last ``size`` origins, by fleet seq."""
    t = OriginTable(size)
    for i, (boot, seq) in enumerate(origins, start=1):
        t.add(i, boot, seq)
    n = len(origins)
    kept = list(range(max(1, n - size + 1), n + 1))
    assert len(t) == len(kept)
    assert t.rows(range(1, n + 1)) == [[i, *origins[i - 1]] for i in kept]


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/?origin=1", True),
        ("/?subscribe=none&origin=true", True),
        ("/?origin=0", False),
        ("/?origin=", False),
        ("/", False),
        ("/?originx=1", False),
    ],
)
def test_only_origin_1_or_true_opts_in(path: str, wanted: bool) -> None:
    """The opt-in is the URL query ``origin=1`` (or ``true``); anything else keeps the plain protocol."""
    assert wants_origin(path) is wanted


def test_the_origin_frame() -> None:
    """``{"t": "origin", "o": [[fleet seq, boot, gateway seq], ...]}`` as msgpack."""
    assert msgpack.unpackb(encode_origin([[7, "b1", 3], [8, "b2", 1]])) == {
        "t": "origin",
        "o": [[7, "b1", 3], [8, "b2", 1]],
    }
