"""gateway.clock: the kernel's clock-sync state through adjtimex(2)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest

from gateway.clock import TIME_ERROR, _Timex, clock_synced


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex(2) is Linux's")
def test_clock_synced_answers_what_adjtimex_of_the_named_c_library_answers() -> None:
    """The C library this process is linked with gives the same adjtimex answer as the one find_library names."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    tx = _Timex()
    tx.modes = 0
    state = int(libc.adjtimex(ctypes.byref(tx)))
    expected = None if state < 0 else state != TIME_ERROR
    assert [clock_synced(), clock_synced()] == [expected, expected]


def test_clock_synced_is_none_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where adjtimex(2) does not exist the answer is "cannot tell"."""
    monkeypatch.setattr(sys, "platform", "darwin")
    assert clock_synced() is None
