"""Cap planning and once-per-episode drop reports."""

from __future__ import annotations

import pytest

from bridges.mqtt.overflow import CapPlan, DropEpisodes, plan_cap


@pytest.mark.parametrize(
    ("stored", "incoming", "cap", "policy", "plan"),
    [
        (5, 3, 10, "drop_oldest", CapPlan(0, 0)),
        (8, 3, 10, "drop_oldest", CapPlan(1, 0)),
        (2, 15, 10, "drop_oldest", CapPlan(2, 5)),
        (8, 3, 10, "downsample", CapPlan(1, 0)),
        (8, 3, 10, "drop_newest", CapPlan(0, 1)),
        (12, 3, 10, "drop_newest", CapPlan(2, 3)),
        (10, 0, 10, "drop_newest", CapPlan(0, 0)),
    ],
)
def test_plan_cap(stored: int, incoming: int, cap: int, policy: str, plan: CapPlan) -> None:
    """The plan keeps stored + incoming - drops at the cap, dropping per the policy."""
    assert plan_cap(stored, incoming, cap, policy) == plan
    assert stored + incoming - plan.drop_stored - plan.drop_incoming <= cap


def test_unknown_policy() -> None:
    """An unknown policy is a programming error."""
    with pytest.raises(ValueError, match="nope"):
        plan_cap(10, 10, 5, "nope")


def test_episode_is_reported_once_and_ends_below_low_water() -> None:
    """The first drop starts an episode (one message); it ends below 90 % of the cap with a summary."""
    ep = DropEpisodes("outbox_full")
    assert ep.dropped(0) is None
    first = ep.dropped(5)
    assert first is not None and "outbox_full" in first
    assert [ep.dropped(3), ep.settle(95, 100), ep.settle(91, 100)] == [None, None, None]
    assert (
        ep.settle(90, 100) == "stopped dropping readings (outbox_full): 8 dropped in this episode, 8 in total"
    )
    assert ep.settle(0, 100) is None
    assert ep.dropped(2) is not None
    assert ep.end() == "stopped dropping readings (outbox_full): 2 dropped in this episode, 10 in total"
    assert ep.end() is None
    assert (ep.total, ep.episodes, ep.active) == (10, 2, False)
