"""Stream policies (instant, minPeriod, ideal, fixed, agg) driven by an explicit fake monotonic clock."""

from __future__ import annotations

from typing import Any

from gateway.protocol.control import SubscribeEntry
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_COALESCED, FLAG_RESENT, FLAG_SIMULATED, Reading
from gateway.protocol.stream import Output, Stream, _next_due
from gateway.protocol.subscription import FULL, SubscriptionSet

MS = 1_000_000
T0_NS = 1_700_000_000_000_000_000


class Stamper:
    """Stamps readings like the hub: gateway-wide seq from 1, per-sensor prev, wall time ``T0_NS + seq``."""

    def __init__(self) -> None:
        self.seq = 0
        self.prev: dict[str, int] = {}

    def __call__(self, sensor: str, flags: int = 0, **values: Any) -> Reading:
        self.seq += 1
        reading = Reading(self.seq, self.prev.get(sensor, 0), T0_NS + self.seq, sensor, values, flags)
        self.prev[sensor] = self.seq
        return reading


def stream_of(*entries: SubscribeEntry) -> Stream:
    """A stream over a set of ``entries``."""
    return Stream(SubscriptionSet(entries))


def test_output_is_truthy_only_with_readings_or_agg() -> None:
    """An Output is false when empty, true with readings or agg entries."""
    assert (
        bool(Output()),
        bool(Output(readings=[Reading(1, 0, 0, "a", {})])),
        bool(Output(agg={10: []})),
    ) == (False, True, True)


def test_instant_passes_every_matching_reading_through_in_order() -> None:
    """instant without minPeriod: each batch comes out unchanged (same objects), ticks produce nothing."""
    r = Stamper()
    batch = [r("env", FLAG_SIMULATED, t=1.0), r("imu", ax=0.1), r("env", t=1.1), r("env", t=1.2)]
    stream = Stream(FULL)
    out = stream.on_readings(batch, now_ns=0)
    assert stream.passthrough_only
    assert all(a is b for a, b in zip(out.readings, batch, strict=True))
    assert out.agg == {}
    assert not stream.on_tick(now_ns=10**12)


def test_first_entry_everything_passes_batches_untouched_whatever_follows() -> None:
    """A first entry '*' or '*.*' (instant) wins for every sensor: later timed entries never apply."""
    r = Stamper()
    batch = [r("env", t=1.0), r("imu", ax=0.1), r("env", t=1.1)]
    for path in ("*", "*.*"):
        stream = stream_of(SubscribeEntry(path), SubscribeEntry("env", "fixed", 100))
        assert stream.everything
        assert stream.on_readings(batch, now_ns=0).readings == batch
        assert not stream.on_tick(now_ns=10**12)
    assert not stream_of(SubscribeEntry("*.t")).everything
    assert not stream_of(SubscribeEntry("*", min_period_ms=10)).everything
    assert not stream_of(SubscribeEntry("env"), SubscribeEntry("*")).everything
    assert not Stream(SubscriptionSet()).everything


def test_instant_filters_sensors_and_projects_fields() -> None:
    """instant delivers only subscribed sensors, with only the subscribed fields (empty map kept)."""
    r = Stamper()
    batch = [r("env", t=1.0, h=40.0), r("imu", ax=0.1), r("gps", lat=1.0), r("env", h=41.0)]
    out = stream_of(SubscribeEntry("env.t"), SubscribeEntry("gps")).on_readings(batch, now_ns=0)
    assert out.readings == [
        Reading(1, 0, T0_NS + 1, "env", {"t": 1.0}),
        Reading(3, 0, T0_NS + 3, "gps", {"lat": 1.0}),
        Reading(4, 1, T0_NS + 4, "env", {}),
    ]


def test_min_period_holds_and_coalesces_to_latest() -> None:
    """instant+minPeriod: first goes at once, later ones wait; latest goes out, flagged only if >1 held."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env", min_period_ms=100))
    assert not stream.passthrough_only
    r1, r2 = r("env", FLAG_CLOCK_SYNCED, t=1), r("env", FLAG_CLOCK_SYNCED, t=2)
    assert stream.on_readings([r1], 0).readings == [r1]
    assert stream.on_readings([r2], 10 * MS).readings == []
    assert stream.on_tick(99 * MS).readings == []
    assert stream.on_tick(100 * MS).readings == [r2]  # one held: a plain delivery, the prev chain is intact
    assert stream.on_tick(300 * MS).readings == []  # nothing held, nothing re-sent (not ideal)
    held = [
        r("env", FLAG_CLOCK_SYNCED, t=3),
        r("env", FLAG_CLOCK_SYNCED, t=4),
        r("env", FLAG_CLOCK_SYNCED, t=5),
    ]
    assert stream.on_readings(held[:1], 300 * MS).readings == [held[0]]  # 200 ms since r2: free to go
    assert stream.on_readings(held[1:], 310 * MS).readings == []
    assert stream.on_tick(350 * MS).readings == []
    assert stream.on_tick(400 * MS).readings == [held[2]._replace(flags=FLAG_CLOCK_SYNCED | FLAG_COALESCED)]


def test_min_period_reading_superseding_a_held_one_is_flagged_coalesced() -> None:
    """A batch after minPeriod but before the tick supersedes the held reading and is FLAG_COALESCED."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env", min_period_ms=100))
    r1, r2, r3, r4 = r("env", t=1), r("env", t=2), r("env", t=3), r("env", t=4)
    assert stream.on_readings([r1, r2], 0).readings == [r1]
    assert stream.on_readings([r3, r4], 150 * MS).readings == [r3._replace(flags=FLAG_COALESCED)]
    assert stream.on_tick(200 * MS).readings == []
    assert stream.on_tick(250 * MS).readings == [r4]


def test_min_period_is_per_sensor() -> None:
    """minPeriod spacing is tracked per sensor: one busy sensor does not delay another."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("*", min_period_ms=100))
    a1, a2, b1, b2 = r("a", v=1), r("a", v=2), r("b", v=1), r("b", v=2)
    assert stream.on_readings([a1, a2], 0).readings == [a1]
    assert stream.on_readings([b1], 50 * MS).readings == [b1]
    assert stream.on_readings([b2], 60 * MS).readings == []
    assert stream.on_tick(100 * MS).readings == [a2]
    assert stream.on_tick(150 * MS).readings == [b2]


def test_ideal_resends_latest_after_a_quiet_period() -> None:
    """ideal: new readings go at once; after `period` without news the latest is re-sent with FLAG_RESENT."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env", "ideal", 1000))
    r1 = r("env", FLAG_SIMULATED, t=1)
    assert stream.on_readings([r1], 0).readings == [r1]
    assert stream.on_tick(999 * MS).readings == []
    assert stream.on_tick(1000 * MS).readings == [r1._replace(flags=FLAG_SIMULATED | FLAG_RESENT)]
    assert stream.on_tick(1500 * MS).readings == []
    assert stream.on_tick(2000 * MS).readings == [r1._replace(flags=FLAG_SIMULATED | FLAG_RESENT)]
    r2 = r("env", t=2)
    assert stream.on_readings([r2], 2100 * MS).readings == [r2]
    assert stream.on_tick(3000 * MS).readings == []
    assert stream.on_tick(3100 * MS).readings == [r2._replace(flags=FLAG_RESENT)]


def test_ideal_with_min_period_sends_held_reading_before_any_resend() -> None:
    """ideal+minPeriod: a held reading goes out (not a re-send) when minPeriod has passed."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env", "ideal", 1000, 200))
    r1, r2 = r("env", t=1), r("env", t=2)
    assert stream.on_readings([r1, r2], 0).readings == [r1]
    assert stream.on_tick(200 * MS).readings == [r2]
    assert stream.on_tick(1199 * MS).readings == []
    assert stream.on_tick(1200 * MS).readings == [r2._replace(flags=FLAG_RESENT)]


def test_fixed_sends_latest_every_period_with_flags_and_skips_missed_boundaries() -> None:
    """fixed: latest value per period; COALESCED if >1 came, RESENT if unchanged; missed periods skipped."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env", "fixed", 1000))
    r1, r2 = r("env", t=1), r("env", t=2)
    assert stream.on_readings([r1], 0).readings == []  # the first period starts at the first reading
    assert stream.on_readings([r2], 500 * MS).readings == []
    assert stream.on_tick(999 * MS).readings == []
    assert stream.on_tick(1000 * MS).readings == [r2._replace(flags=FLAG_COALESCED)]
    assert stream.on_tick(1999 * MS).readings == []
    assert stream.on_tick(2000 * MS).readings == [r2._replace(flags=FLAG_RESENT)]
    r3 = r("env", FLAG_CLOCK_SYNCED, t=3)
    assert stream.on_readings([r3], 2500 * MS).readings == []
    assert stream.on_tick(3005 * MS).readings == [r3]  # exactly one new reading: no flag
    assert stream.on_tick(5500 * MS).readings == [r3._replace(flags=FLAG_CLOCK_SYNCED | FLAG_RESENT)]
    # Boundaries 4000 and 5000 were missed: the next one is 6000, not 5000 + catch-up sends.
    assert stream.on_tick(5999 * MS).readings == []
    assert stream.on_tick(6000 * MS).readings == [r3._replace(flags=FLAG_CLOCK_SYNCED | FLAG_RESENT)]


def test_fixed_and_instant_sensors_share_one_stream() -> None:
    """In a mixed set, passthrough sensors go out per batch and fixed ones per tick, projected per route."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("env.t", "fixed", 100), SubscribeEntry("imu"), SubscribeEntry("env.h"))
    e1, i1, e2 = r("env", t=1, h=2, p=3), r("imu", ax=1), r("env", t=4, h=5, p=6)
    assert stream.on_readings([e1, i1, e2], 0).readings == [i1]
    assert stream.on_tick(100 * MS).readings == [
        Reading(3, 1, T0_NS + 3, "env", {"t": 4, "h": 5}, FLAG_COALESCED)
    ]


def test_agg_keeps_min_max_mean_last_per_period() -> None:
    """agg: min/max/mean/last per period; bools and strings carry only last; empty buckets are skipped."""
    r = Stamper()
    stream = stream_of(SubscribeEntry("imu", period_ms=1000, agg=("min", "max", "mean", "last")))
    batch = [
        r("imu", ax=1.0, n=3, ok=True, mode="run", v=None),
        r("imu", ax=-2.5, n=5, ok=False, mode="idle", v=1),
    ]
    assert not stream.on_readings(batch, 0)
    assert not stream.on_tick(999 * MS)
    assert stream.on_tick(1000 * MS).agg == {
        1000: [
            [
                "imu",
                T0_NS + 1,
                T0_NS + 2,
                2,
                {
                    "ax": [-2.5, 1.0, -0.75, -2.5],
                    "n": [3, 5, 4.0, 5],
                    "ok": [None, None, None, False],
                    "mode": [None, None, None, "idle"],
                    "v": [1, 1, 1.0, 1],
                },
            ]
        ]
    }
    assert not stream.on_tick(2000 * MS)  # empty bucket: nothing sent, boundary still advances
    r3 = r("imu", ax=7.0, n=1, ok=True, mode="run", v=None)
    assert not stream.on_readings([r3], 2100 * MS)
    assert not stream.on_tick(2999 * MS)
    assert stream.on_tick(4500 * MS).agg == {
        1000: [
            [
                "imu",
                T0_NS + 3,
                T0_NS + 3,
                1,
                {
                    "ax": [7.0, 7.0, 7.0, 7.0],
                    "n": [1, 1, 1.0, 1],
                    "ok": [None, None, None, True],
                    "mode": [None, None, None, "run"],
                    "v": [None, None, None, None],
                },
            ]
        ]
    }
    r4 = r("imu", ax=0.0)
    assert not stream.on_readings([r4], 4600 * MS)
    assert not stream.on_tick(4999 * MS)  # 3000 and 4000 were skipped, the next boundary is 5000
    assert stream.on_tick(5000 * MS).agg == {
        1000: [["imu", T0_NS + 4, T0_NS + 4, 1, {"ax": [0.0, 0.0, 0.0, 0.0]}]]
    }


def test_agg_groups_entries_by_period_and_nils_unrequested_aggregates() -> None:
    """agg frames are keyed by period in ms; aggregates not requested are nil; fields are projected first."""
    r = Stamper()
    stream = stream_of(
        SubscribeEntry("imu.ax", period_ms=100, agg=("max", "last")),
        SubscribeEntry("env", period_ms=250, agg=("mean",)),
        SubscribeEntry("gps", period_ms=100, agg=("min",)),
    )
    batch = [
        r("imu", ax=1, ay=9),
        r("env", t=10.0),
        r("gps", lat=5.5),
        r("imu", ax=3, ay=9),
        r("env", t=20.0),
    ]
    assert not stream.on_readings(batch, 0)
    out = stream.on_tick(250 * MS)
    assert out.readings == []
    assert out.agg == {
        100: [
            ["imu", T0_NS + 1, T0_NS + 4, 2, {"ax": [None, 3, None, 3]}],
            ["gps", T0_NS + 3, T0_NS + 3, 1, {"lat": [5.5, None, None, None]}],
        ],
        250: [["env", T0_NS + 2, T0_NS + 5, 2, {"t": [None, None, 15.0, None]}]],
    }


def test_next_due_skips_missed_boundaries_and_handles_zero_period() -> None:
    """_next_due returns the first boundary after now; a zero period yields now itself."""
    assert [_next_due(1000, 1000, now) for now in (1000, 1999, 2000, 5500)] == [2000, 2000, 3000, 6000]
    assert _next_due(1000, 0, 1234) == 1234
