"""gateway/metrics.py: counters, gauges, histograms, labels, scrape-time callbacks, the text exposition."""

from __future__ import annotations

import pytest

from gateway.metrics import Metrics


@pytest.fixture
def m() -> Metrics:
    return Metrics()


def lines(m: Metrics) -> list[str]:
    text = m.render()
    assert text.endswith("\n") and not text.endswith("\n\n")
    return text.splitlines()


# -- values ---------------------------------------------------------------------------------------------------


def test_counters_add_and_default_to_one(m: Metrics) -> None:
    assert m.get("hits") == 0.0
    m.inc("hits")
    m.inc("hits")
    m.inc("hits", 2.5)
    assert m.get("hits") == 4.5


def test_gauges_are_set_not_added(m: Metrics) -> None:
    m.set("temp", 3.0)
    m.set("temp", -1.5)
    assert m.get("temp") == -1.5


def test_each_label_set_is_its_own_series(m: Metrics) -> None:
    m.inc("errors", sensor="a")
    m.inc("errors", sensor="a")
    m.inc("errors", sensor="b")
    m.inc("errors")
    assert (m.get("errors", sensor="a"), m.get("errors", sensor="b"), m.get("errors")) == (2.0, 1.0, 1.0)
    assert m.get("errors", sensor="c") == 0.0
    assert m.get("errors", sensor="a", bus="x") == 0.0


def test_label_order_does_not_matter(m: Metrics) -> None:
    m.inc("x", a="1", b="2")
    m.inc("x", b="2", a="1")
    m.set("y", 7, z="1", a="2")
    assert m.get("x", b="2", a="1") == 2.0
    assert m.get("y", a="2", z="1") == 7.0
    assert 'x{a="1",b="2"} 2.0' in lines(m)
    assert 'y{a="2",z="1"} 7.0' in lines(m)


# -- exposition -------------------------------------------------------------------------------------------------


def test_described_metrics_have_help_and_type_lines(m: Metrics) -> None:
    """Counters and gauges render with HELP and TYPE, sorted by name."""
    m.describe("requests_total", "counter", "Requests served")
    m.describe("queue_depth", "gauge", "Items waiting")
    m.inc("requests_total", 3)
    m.set("queue_depth", 2)
    assert lines(m) == [
        "# HELP queue_depth Items waiting",
        "# TYPE queue_depth gauge",
        "queue_depth 2.0",
        "# HELP requests_total Requests served",
        "# TYPE requests_total counter",
        "requests_total 3.0",
    ]


def test_a_declared_metric_shows_zero_before_its_first_event(m: Metrics) -> None:
    """Unlabelled: a 0 sample; labelled: HELP and TYPE, and a 0 for each series declared with inc(..., 0)."""
    m.describe("errors_total", "counter", "Errors")
    m.describe("implausible_total", "counter", "Implausible", ("sensor",))
    m.describe("rejected_total", "counter", "Rejected", ("reason",))
    m.inc("implausible_total", 0, sensor="env")
    assert lines(m) == [
        "# HELP errors_total Errors",
        "# TYPE errors_total counter",
        "errors_total 0.0",
        "# HELP implausible_total Implausible",
        "# TYPE implausible_total counter",
        'implausible_total{sensor="env"} 0.0',
        "# HELP rejected_total Rejected",
        "# TYPE rejected_total counter",
    ]


@pytest.mark.parametrize(("name", "kind"), [("hits", "counter"), ("depth_total", "gauge"), ("x", "summary")])
def test_describe_refuses_names_against_the_conventions(m: Metrics, name: str, kind: str) -> None:
    """Counters (and only counters) end in _total; the kind is counter, gauge or histogram."""
    with pytest.raises(ValueError, match=name):
        m.describe(name, kind, "text")


def test_an_undescribed_metric_is_untyped(m: Metrics) -> None:
    """A metric nobody declared is not passed off as a gauge (the demo test asserts there are none)."""
    m.set("adhoc", 1)
    assert lines(m) == ["# HELP adhoc ", "# TYPE adhoc untyped", "adhoc 1.0"]


def test_empty_registry_renders_nothing(m: Metrics) -> None:
    assert m.render() == ""


def test_label_values_are_escaped(m: Metrics) -> None:
    m.describe("g", "gauge", "G", ("sensor",))
    m.set("g", 1, sensor='C:\\x "y"\nz')
    assert lines(m)[-1] == 'g{sensor="C:\\\\x \\"y\\"\\nz"} 1.0'


def test_help_text_newline_is_escaped(m: Metrics) -> None:
    """Regression: a newline in HELP ended the comment early and the rest became a bogus sample line."""
    m.describe("h_total", "counter", "two\nlines")
    assert lines(m) == ["# HELP h_total two\\nlines", "# TYPE h_total counter", "h_total 0.0"]


@pytest.mark.parametrize(
    "value", [1_234_567, 1_234_568.0, 2**53 - 1, 1234567.5, 0.1 + 0.2, 1 / 3, -0.5, 1e20]
)
def test_values_render_exactly_so_counters_do_not_step(m: Metrics, value: float) -> None:
    """Regression: ``{:g}`` kept 6 significant digits, so counters above 1e6 moved in steps."""
    m.describe("v", "gauge", "V")
    m.set("v", value)
    assert float(lines(m)[-1].split()[-1]) == value


def test_histogram_buckets_are_cumulative(m: Metrics) -> None:
    """Observations land in the first bucket whose bound is >= them; _count and _sum follow."""
    h = m.histogram("lag_seconds", "Lag", (0.01, 0.1))
    for v in (0.001, 0.01, 0.05, 3.0):
        h.observe(v)
    assert lines(m) == [
        "# HELP lag_seconds Lag",
        "# TYPE lag_seconds histogram",
        'lag_seconds_bucket{le="0.01"} 2.0',
        'lag_seconds_bucket{le="0.1"} 3.0',
        'lag_seconds_bucket{le="+Inf"} 4.0',
        "lag_seconds_count 4.0",
        "lag_seconds_sum 3.061",
    ]
    assert [(d.name, d.kind, d.labels) for d in m.described()] == [("lag_seconds", "histogram", ("le",))]


def test_process_metrics_are_exported_on_request(m: Metrics) -> None:
    assert "process_resident_memory_bytes" not in m.render()
    m.add_process_metrics()
    assert "process_resident_memory_bytes" in m.render()


# -- callbacks --------------------------------------------------------------------------------------------------


def test_callbacks_are_evaluated_at_every_scrape(m: Metrics) -> None:
    state = {"n": 1.0}
    calls: list[int] = []

    def sample() -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        calls.append(1)
        return [("live", (), state["n"]), ("live_by", (("bus", "spi"),), state["n"] * 2)]

    m.describe("live", "gauge", "Live value")
    m.describe("live_by", "gauge", "By bus", ("bus",))
    m.add_callback(sample)
    assert calls == []  # nothing is computed until a scrape
    assert lines(m) == [
        "# HELP live Live value",
        "# TYPE live gauge",
        "live 1.0",
        "# HELP live_by By bus",
        "# TYPE live_by gauge",
        'live_by{bus="spi"} 2.0',
    ]
    state["n"] = 5.0
    second = lines(m)
    assert "live 5.0" in second and 'live_by{bus="spi"} 10.0' in second
    assert len(calls) == 2


def test_a_callback_sample_replaces_a_stored_one_only_in_the_rendering(m: Metrics) -> None:
    m.describe("x", "gauge", "X", ("k",))
    m.set("x", 1, k="v")
    m.set("x", 9, k="other")
    m.add_callback(lambda: [("x", (("k", "v"),), 2.0)])
    assert lines(m)[2:] == ['x{k="other"} 9.0', 'x{k="v"} 2.0']
    assert m.get("x", k="v") == 1.0  # the registry itself is untouched


def test_render_does_not_leak_callback_samples_into_get(m: Metrics) -> None:
    m.add_callback(lambda: [("only_cb", (), 3.0)])
    m.render()
    assert m.get("only_cb") == 0.0
