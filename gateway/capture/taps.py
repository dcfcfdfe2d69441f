"""Path and key conventions shared by the recording and the replaying tap (so their streams line up)."""

from __future__ import annotations

import errno
from typing import Any

POLL_STREAM = "poll:"
"""Prefix of a sensor's stream of the poller's verdicts (``poll:env``): polls abandoned past ``read_timeout_s``."""


def file_key(path: str, sysfs_root: str, procfs_root: str) -> str:
    """The stable stream key of a file: its path with the tree's roots written as ``/sys`` and ``/proc`` (an
    emulated tree lives in a fresh temporary directory on every run)."""
    for root, name in ((sysfs_root, "/sys"), (procfs_root, "/proc")):
        if root and (path == root or path.startswith(root.rstrip("/") + "/")):
            return "file:" + name + path[len(root.rstrip("/")) :]
    return "file:" + path


def error_number(exc: BaseException) -> int:
    """The errno to record for ``exc``: its own, or -1 when it has none (replayed as an OSError without one)."""
    code = getattr(exc, "errno", None)
    return code if isinstance(code, int) else -1


def os_error(code: int, what: str) -> OSError:
    """The OSError a replay raises for a recorded ``code`` (see :func:`error_number`)."""
    if code < 0:
        return OSError(f"{what} failed (replayed)")
    return OSError(code, f"{errno.errorcode.get(code, code)} (replayed)")


def msg_args(msgs: Any) -> list[Any]:
    """An i2c_rdwr's messages as recordable values: ``[addr, flags, len, written bytes or None]`` each."""
    from sensors.i2c.device import I2C_M_RD

    return [[int(m.addr), int(m.flags), int(m.len), None if m.flags & I2C_M_RD else bytes(m)] for m in msgs]
