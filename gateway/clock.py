"""Is the wall clock synchronised? (A Pi has no RTC: until NTP/GPS sync, timestamps may be far off.)

Asks the kernel through ``adjtimex(2)`` (read-only: ``modes = 0``), which reports ``TIME_ERROR`` while the
clock is not synchronised, exactly what ``timedatectl``'s "System clock synchronized" shows.
"""

from __future__ import annotations

import ctypes
import sys

TIME_ERROR = 5
"""adjtimex return value: clock not synchronised (STA_UNSYNC set)."""


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h): 'modes' first, then fields we do not read; 200 bytes covers every ABI.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 200)]


def clock_synced() -> bool | None:
    """Return True if the kernel considers the clock synchronised, False if not, None if it cannot tell."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The C library this process is linked with (dlopen(NULL)), as gateway/allocator.py does: no
        # ctypes.util.find_library, which imports shutil, tempfile, bz2 and lzma and runs ldconfig.
        libc = ctypes.CDLL(None, use_errno=True)
        tx = _Timex()
        tx.modes = 0
        state = int(libc.adjtimex(ctypes.byref(tx)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR
