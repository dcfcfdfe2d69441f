"""bridges.mqtt.claim: an exclusive flock on the outbox's lock file, naming its holder to the refused one."""

from __future__ import annotations

import os
from pathlib import Path

from bridges.mqtt.claim import MAX_PID_BYTES, claim


def test_the_first_claim_holds_and_names_itself_later_ones_are_refused(tmp_path: Path) -> None:
    """The holder writes its PID; a second claim (another open file, as another process would) is refused and
    reads that PID; a holder file without a PID is refused with no name; after release the claim is free."""
    path = tmp_path / "sub" / "mqtt-outbox.db.lock"
    first = claim(path)
    assert (first.fd is not None, first.refused, path.read_text()) == (True, False, f"{os.getpid()}\n")
    second = claim(path)
    assert (second.fd, second.refused, second.holder, second.unguarded) == (None, True, os.getpid(), None)
    path.write_text("x" * (MAX_PID_BYTES * 4))  # garbage (and long): no name, no big read
    assert (claim(path).refused, claim(path).holder) == (True, None)
    first.release()
    first.release()  # idempotent
    third = claim(path)
    assert (third.refused, third.fd is not None) == (False, True)
    third.release()
