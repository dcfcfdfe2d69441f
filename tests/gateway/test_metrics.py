"""gateway/metrics.py: counters, gauges, labels, scrape-time callbacks and the Prometheus text exposition."""

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
    assert lines(m)[2:3] == ['x{a="1",b="2"} 2']
    assert 'y{a="2",z="1"} 7' in lines(m)


# -- exposition -------------------------------------------------------------------------------------------------


def test_described_metrics_have_help_and_type_lines(m: Metrics) -> None:
    m.describe("requests_total", "counter", "Requests served")
    m.describe("queue_depth", "gauge", "Items waiting")
    m.inc("requests_total", 3)
    m.set("queue_depth", 2)
    assert lines(m) == [
        "# HELP queue_depth Items waiting",
        "# TYPE queue_depth gauge",
        "queue_depth 2",
        "# HELP requests_total Requests served",
        "# TYPE requests_total counter",
        "requests_total 3",
    ]


def test_a_described_metric_without_samples_renders_zero(m: Metrics) -> None:
    m.describe("errors_total", "counter", "Errors")
    assert lines(m) == ["# HELP errors_total Errors", "# TYPE errors_total counter", "errors_total 0"]


def test_an_undescribed_metric_is_an_untitled_gauge(m: Metrics) -> None:
    m.set("adhoc", 1)
    assert lines(m) == ["# HELP adhoc ", "# TYPE adhoc gauge", "adhoc 1"]


def test_empty_registry_renders_a_single_newline(m: Metrics) -> None:
    assert m.render() == "\n"


def test_metrics_and_series_are_sorted(m: Metrics) -> None:
    m.describe("b_total", "counter", "B")
    m.inc("b_total", sensor="zeta")
    m.inc("b_total", sensor="alpha")
    m.inc("b_total")
    m.set("a", 1)
    assert lines(m) == [
        "# HELP a ",
        "# TYPE a gauge",
        "a 1",
        "# HELP b_total B",
        "# TYPE b_total counter",
        "b_total 1",
        'b_total{sensor="alpha"} 1',
        'b_total{sensor="zeta"} 1',
    ]


def test_several_labels_are_comma_separated_in_name_order(m: Metrics) -> None:
    m.inc("rejected_total", reason="origin", bus="i2c-1")
    assert lines(m)[-1] == 'rejected_total{bus="i2c-1",reason="origin"} 1'


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("back\\slash", "back\\\\slash"),
        ('say "hi"', 'say \\"hi\\"'),
        ("two\nlines", "two\\nlines"),
        ('\\"\n', '\\\\\\"\\n'),  # backslash escaped first, so the others are not doubled
        ("plain-ünïcode", "plain-ünïcode"),
        ("", ""),
    ],
)
def test_label_values_are_escaped(m: Metrics, value: str, rendered: str) -> None:
    m.set("g", 1, sensor=value)
    assert lines(m)[-1] == f'g{{sensor="{rendered}"}} 1'


def test_escaping_does_not_change_the_stored_label(m: Metrics) -> None:
    m.inc("c", sensor='a"b')
    assert m.get("c", sensor='a"b') == 1.0


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (0, "0"),
        (1, "1"),
        (42.0, "42"),
        (0.5, "0.5"),
        (0.001, "0.001"),
        (-3, "-3"),
        (123456, "123456"),
        (1.25e-7, "1.25e-07"),
    ],
)
def test_number_formatting(m: Metrics, value: float, rendered: str) -> None:
    m.set("v", value)
    assert lines(m)[-1] == f"v {rendered}"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (1_234_567, "1234567"),
        (1_234_567.0, "1234567"),
        (1_234_568.0, "1234568"),  # one more is visibly one more (it used to render the same 1.23457e+06)
        (2**53 - 1, "9007199254740991"),
        (float(2**53 - 1), "9007199254740991"),
        (10**20, "100000000000000000000"),  # a Python int is exact whatever its size
        (1e20, "1e+20"),
        (-7_654_321.0, "-7654321"),
        (1234567.5, "1234567.5"),
        (0.1 + 0.2, "0.30000000000000004"),  # repr precision: the exact double, not 0.3
        (1 / 3, "0.3333333333333333"),
        (123456.789012, "123456.789012"),
        (-0.0, "0"),
        (True, "1"),
    ],
)
def test_values_render_exactly_so_counters_do_not_step(m: Metrics, value: float, rendered: str) -> None:
    """Regression: ``{:g}`` kept 6 significant digits, so counters above 1e6 moved in steps."""
    m.set("v", value)
    assert lines(m)[-1] == f"v {rendered}"
    assert float(rendered) == value  # what the scraper parses back is the very same number


def test_a_large_counter_advances_by_one_in_the_exposition(m: Metrics) -> None:
    m.describe("sent_total", "counter", "Sent")
    m.inc("sent_total", 9_999_999)
    before = lines(m)[-1]
    m.inc("sent_total")
    assert (before, lines(m)[-1]) == ("sent_total 9999999", "sent_total 10000000")


@pytest.mark.parametrize(
    ("value", "rendered"),
    [(float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN")],
)
def test_non_finite_values_use_the_exposition_spelling(m: Metrics, value: float, rendered: str) -> None:
    m.set("g", value, k="v")
    m.add_callback(lambda: [("cb", (), value)])
    assert 'g{k="v"} ' + rendered in lines(m)
    assert "cb " + rendered in lines(m)


@pytest.mark.parametrize(
    ("help_text", "rendered"),
    [
        ("two\nlines", "two\\nlines"),
        ("C:\\path", "C:\\\\path"),
        ('a "quoted" word', 'a "quoted" word'),  # quotes are only escaped in label values
        ("\\n", "\\\\n"),  # a literal backslash-n stays distinguishable from a newline
    ],
)
def test_help_text_escapes_backslash_and_newline(m: Metrics, help_text: str, rendered: str) -> None:
    """Regression: a newline in HELP ended the comment early and the rest became a bogus sample line."""
    m.describe("h_total", "counter", help_text)
    assert lines(m) == [f"# HELP h_total {rendered}", "# TYPE h_total counter", "h_total 0"]


# -- callbacks --------------------------------------------------------------------------------------------------


def test_callbacks_are_evaluated_at_every_scrape(m: Metrics) -> None:
    state = {"n": 1.0}
    calls: list[int] = []

    def sample() -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        calls.append(1)
        return [("live", (), state["n"]), ("live_by", (("bus", "spi"),), state["n"] * 2)]

    m.describe("live", "gauge", "Live value")
    m.add_callback(sample)
    assert calls == []  # nothing is computed until a scrape
    assert lines(m) == [
        "# HELP live Live value",
        "# TYPE live gauge",
        "live 1",
        "# HELP live_by ",
        "# TYPE live_by gauge",
        'live_by{bus="spi"} 2',
    ]
    state["n"] = 5.0
    second = lines(m)
    assert "live 5" in second and 'live_by{bus="spi"} 10' in second
    assert len(calls) == 2


def test_a_callback_sample_replaces_a_stored_one_only_in_the_rendering(m: Metrics) -> None:
    m.set("x", 1, k="v")
    m.set("x", 9, k="other")
    m.add_callback(lambda: [("x", (("k", "v"),), 2.0)])
    assert lines(m)[2:] == ['x{k="other"} 9', 'x{k="v"} 2']
    assert m.get("x", k="v") == 1.0  # the registry itself is untouched


def test_several_callbacks_contribute_series_to_one_metric(m: Metrics) -> None:
    m.add_callback(lambda: [("q", (("c", "1"),), 1.0)])
    m.add_callback(lambda: [("q", (("c", "2"),), 2.0)])
    assert lines(m)[2:] == ['q{c="1"} 1', 'q{c="2"} 2']


def test_callback_label_values_are_escaped_too(m: Metrics) -> None:
    m.add_callback(lambda: [("cb", (("path", 'C:\\x "y"'),), 1.0)])
    assert lines(m)[-1] == 'cb{path="C:\\\\x \\"y\\""} 1'


def test_render_does_not_leak_callback_samples_into_get(m: Metrics) -> None:
    m.add_callback(lambda: [("only_cb", (), 3.0)])
    m.render()
    assert m.get("only_cb") == 0.0
