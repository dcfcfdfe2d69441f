"""Unit tests of sensors.health: HealthPolicy, read_with_retry, the SensorHealth state machine and backoff."""

from __future__ import annotations

import dataclasses
import errno

import pytest

from sensors.base import FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import ChecksumError, ImplausibleReading, SensorError, SensorTimeout
from sensors.health import HealthPolicy, SensorHealth, read_with_retry


class ScriptedSensor(Sensor):
    """Each read pops the next outcome: an exception is raised, a mapping is returned."""

    def __init__(self, *outcomes: BaseException | Values) -> None:
        super().__init__(SensorInfo("s", "test", (FieldSpec("x"),), 1.0))
        self.outcomes = list(outcomes)
        self.reads = 0

    def read(self) -> Values:
        self.reads += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def nack(n: int = 0) -> SensorError:
    return SensorError(errno.EREMOTEIO, f"nack {n}")


# -- HealthPolicy -------------------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    p = HealthPolicy()
    assert (p.retries, p.offline_after, p.backoff_initial_s, p.backoff_max_s, p.jitter) == (
        2,
        3,
        1.0,
        60.0,
        0.2,
    )


def test_policy_is_frozen_and_replaceable() -> None:
    p = HealthPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.retries = 5  # type: ignore[misc]
    assert dataclasses.replace(p, retries=5).retries == 5
    assert HealthPolicy(retries=0) == HealthPolicy(retries=0)


def test_health_without_policy_uses_the_defaults() -> None:
    assert SensorHealth().policy == HealthPolicy()


# -- read_with_retry ----------------------------------------------------------------------------------------


def test_first_success_is_returned_without_retry() -> None:
    s = ScriptedSensor({"x": 1.0}, {"x": 2.0})
    assert read_with_retry(s, 2) == {"x": 1.0}
    assert s.reads == 1


def test_transient_errors_are_retried_at_once() -> None:
    s = ScriptedSensor(nack(1), ChecksumError("crc"), {"x": 3.0})
    assert read_with_retry(s, 2) == {"x": 3.0}
    assert s.reads == 3


@pytest.mark.parametrize("retries", [0, 1, 4])
def test_gives_up_after_retries_plus_one_attempts_with_the_last_error(retries: int) -> None:
    errors = [nack(i) for i in range(retries + 1)]
    s = ScriptedSensor(*errors, {"x": 1.0})
    with pytest.raises(SensorError) as info:
        read_with_retry(s, retries)
    assert info.value is errors[-1]
    assert s.reads == retries + 1


def test_plain_oserror_and_subclasses_are_retried() -> None:
    last = SensorTimeout(errno.ETIMEDOUT, "slow")
    s = ScriptedSensor(OSError(errno.EIO, "io"), ImplausibleReading("skipped"), last)
    with pytest.raises(SensorTimeout) as info:
        read_with_retry(s, 2)
    assert info.value is last and s.reads == 3


def test_non_oserror_is_not_retried() -> None:
    """A driver bug (not an I/O error) propagates at once: retrying would only repeat it."""
    s = ScriptedSensor(KeyError("bug"), {"x": 1.0})
    with pytest.raises(KeyError):
        read_with_retry(s, 5)
    assert s.reads == 1


# -- SensorHealth state machine -----------------------------------------------------------------------------


def test_initial_state() -> None:
    h = SensorHealth(HealthPolicy())
    assert h.state == "starting"
    assert (h.consecutive_failures, h.errors_total, h.last_error, h.since_s) == (0, 0, None, None)
    assert not h.needs_reinit


def test_starting_to_ok_then_no_change_on_further_success() -> None:
    h = SensorHealth(HealthPolicy())
    assert h.on_success(10.0) == "ok"
    assert (h.state, h.since_s) == ("ok", 10.0)
    assert h.on_success(11.0) is None
    assert h.since_s == 10.0  # since is the time of the transition, not of the last poll


def test_failure_while_starting_goes_failing() -> None:
    h = SensorHealth(HealthPolicy())
    assert h.on_failure(1.0, "timeout") == "failing"
    assert h.needs_reinit and h.last_error == "timeout"


def test_full_cycle_ok_failing_offline_recovering_ok() -> None:
    h = SensorHealth(HealthPolicy(offline_after=3))
    changes = [
        h.on_success(0.0),
        h.on_failure(1.0, "e1"),
        h.on_failure(2.0, "e2"),
        h.on_failure(3.0, "e3"),
        h.on_failure(4.0, "e4"),
        h.on_success(5.0),
        h.on_success(6.0),
        h.on_success(7.0),
    ]
    assert changes == ["ok", "failing", None, "offline", None, "recovering", "ok", None]
    assert h.errors_total == 4
    assert h.consecutive_failures == 0
    assert h.since_s == 6.0


def test_counters_and_last_error() -> None:
    h = SensorHealth(HealthPolicy(offline_after=10))
    h.on_success(0.0)
    h.on_failure(1.0, "first")
    h.on_failure(2.0, "second")
    assert (h.consecutive_failures, h.errors_total, h.last_error, h.since_s) == (2, 2, "second", 1.0)
    assert h.on_success(3.0) == "recovering"
    assert h.consecutive_failures == 0
    assert h.last_error == "second", "the error stays visible while recovering"
    assert h.on_success(4.0) == "ok"
    assert h.last_error is None
    h.on_failure(5.0, "third")
    assert (h.consecutive_failures, h.errors_total) == (1, 3), "errors_total never resets"


def test_failure_while_recovering_goes_back_to_failing() -> None:
    h = SensorHealth(HealthPolicy(offline_after=3))
    h.on_failure(0.0, "a")
    assert h.on_success(1.0) == "recovering"
    assert not h.needs_reinit
    assert h.on_failure(2.0, "b") == "failing"
    assert h.consecutive_failures == 1


def test_offline_after_one_goes_straight_to_offline() -> None:
    h = SensorHealth(HealthPolicy(offline_after=1))
    h.on_success(0.0)
    assert h.on_failure(1.0, "gone") == "offline"
    assert h.needs_reinit


@pytest.mark.parametrize(
    ("state", "reinit"),
    [("starting", False), ("ok", False), ("failing", True), ("offline", True), ("recovering", False)],
)
def test_needs_reinit(state: str, reinit: bool) -> None:
    h = SensorHealth(HealthPolicy(offline_after=2))
    if state in ("ok", "recovering"):
        h.on_success(0.0)
    if state in ("failing", "offline", "recovering"):
        h.on_failure(1.0, "e")
    if state == "offline":
        h.on_failure(2.0, "e")
    if state == "recovering":
        h.on_success(3.0)
    assert h.state == state
    assert h.needs_reinit is reinit


def test_stop_from_any_state_once() -> None:
    h = SensorHealth(HealthPolicy())
    h.on_failure(0.0, "e")
    assert h.stop(5.0) == "stopped"
    assert (h.state, h.since_s) == ("stopped", 5.0)
    assert h.stop(6.0) is None
    assert not h.needs_reinit


# -- backoff ------------------------------------------------------------------------------------------------


def failing(n: int, policy: HealthPolicy) -> SensorHealth:
    h = SensorHealth(policy)
    for i in range(n):
        h.on_failure(float(i), "e")
    return h


@pytest.mark.parametrize("rand01", [0.0, 0.5, 0.999])
def test_healthy_delay_is_the_interval_whatever_the_random_number(rand01: float) -> None:
    assert SensorHealth(HealthPolicy()).next_delay_s(0.25, rand01) == 0.25


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    p = HealthPolicy(offline_after=100, backoff_initial_s=1.0, backoff_max_s=10.0, jitter=0.0)
    delays = [failing(n, p).next_delay_s(0.1, 0.3) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_backoff_never_shorter_than_the_interval() -> None:
    p = HealthPolicy(backoff_initial_s=0.5, backoff_max_s=60.0, jitter=0.5)
    assert failing(1, p).next_delay_s(5.0, 0.0) == 5.0


def test_jitter_extremes_and_midpoint() -> None:
    p = HealthPolicy(backoff_initial_s=4.0, backoff_max_s=60.0, jitter=0.25)
    h = failing(1, p)
    assert h.next_delay_s(0.0, 0.5) == pytest.approx(4.0)
    assert h.next_delay_s(0.0, 0.0) == pytest.approx(3.0)
    assert h.next_delay_s(0.0, 1.0) == pytest.approx(5.0)


@pytest.mark.parametrize("failures", [1, 2, 3, 6, 7, 20])
def test_jittered_backoff_is_bounded(failures: int) -> None:
    p = HealthPolicy(offline_after=3, backoff_initial_s=1.0, backoff_max_s=30.0, jitter=0.2)
    h = failing(failures, p)
    base = min(30.0, 2.0 ** (failures - 1))
    for i in range(101):
        delay = h.next_delay_s(0.05, i / 101)
        assert base * 0.8 <= delay <= base * 1.2


def test_backoff_restarts_after_a_success() -> None:
    p = HealthPolicy(offline_after=10, backoff_initial_s=1.0, jitter=0.0)
    h = failing(4, p)
    assert h.next_delay_s(0.1, 0.5) == 8.0
    h.on_success(10.0)
    assert h.next_delay_s(0.1, 0.5) == 0.1
    h.on_failure(11.0, "e")
    assert h.next_delay_s(0.1, 0.5) == 1.0


def test_backoff_stays_at_the_cap_after_100000_failures() -> None:
    """Regression: 2.0 ** (failures - 1) overflowed past 1024 failures (~17 h unplugged at the 60 s cap)."""
    p = HealthPolicy(offline_after=3, backoff_initial_s=1.0, backoff_max_s=60.0, jitter=0.2)
    h = failing(100_000, p)
    assert h.state == "offline" and h.consecutive_failures == 100_000
    assert h.next_delay_s(0.1, 0.5) == 60.0
    assert h.next_delay_s(0.1, 0.0) == pytest.approx(48.0)
    assert h.next_delay_s(0.1, 0.999) == pytest.approx(60.0 * (1 + 0.2 * 0.998))


@pytest.mark.parametrize("failures", [1023, 1024, 1025, 1026, 5000])
def test_backoff_around_the_float_exponent_limit_is_the_cap(failures: int) -> None:
    p = HealthPolicy(offline_after=3, backoff_initial_s=1.0, backoff_max_s=60.0, jitter=0.0)
    assert failing(failures, p).next_delay_s(0.1, 0.3) == 60.0


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        (0.0, 0.5),  # no backoff at all: the interval
        (1e-300, 60.0),  # a tiny first delay still grows to the cap
        (1e300, 60.0),  # a huge first delay is capped at once
    ],
)
def test_backoff_after_many_failures_with_extreme_initial_delays(initial: float, expected: float) -> None:
    p = HealthPolicy(offline_after=3, backoff_initial_s=initial, backoff_max_s=60.0, jitter=0.0)
    assert failing(3000, p).next_delay_s(0.5, 0.5) == expected
