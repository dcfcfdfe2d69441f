"""Counters, gauges and histograms, exposed through ``prometheus-client`` in the Prometheus text format (0.0.4).

Why a registry of our own in front of prometheus-client: the hot path (the hub and the fan-out count once per
batch) stays a dict update (``inc``), as cheap as before; prometheus-client only runs at scrape time, through one
custom collector, and owns what is easy to get wrong: the exposition format (HELP/TYPE, escaping, ``_total``,
histogram buckets) and the standard ``process_*`` metrics. Every metric is declared with :meth:`Metrics.describe`
(kind, label names, help text); a declared metric without labels shows 0 from the start, so dashboards and
alerts see it before its first event.

prometheus-client is imported at the first scrape, not at import: it pulls in ``http.server``, ``wsgiref``,
``urllib.request`` and ``email`` (~45 modules, ~2 MiB of resident memory on the demo) that nothing needs until
someone asks for ``/metrics``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]

KINDS = ("counter", "gauge", "histogram")


@dataclass(frozen=True)
class Described:
    """A declared metric: what the docs table (docs/metrics.md) lists."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


class Histogram:
    """Cumulative bucket counts of observed values (e.g. event-loop lag), rendered as a Prometheus histogram."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose upper bound is >= it."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs, cumulative, ending with ``+Inf``."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, float(total)))
        return out


class Metrics:
    """A tiny registry: monotonic counters, set-able gauges, histograms and callbacks evaluated at scrape time."""

    def __init__(self) -> None:
        self._described: dict[str, Described] = {}
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._callbacks: list[Callable[[], Iterable[Sample]]] = []
        self._histograms: dict[str, Histogram] = {}
        self._process_metrics = False
        self._registry: CollectorRegistry | None = None

    def describe(self, name: str, kind: str, help_text: str, labels: Sequence[str] = ()) -> None:
        """Declare metric ``name`` of ``kind`` (counter, gauge or histogram) with its label names.

        Raises:
            ValueError: an unknown kind, or a counter whose name does not end in ``_total`` (Prometheus's
                naming rule; ``promtool check metrics`` flags it).
        """
        if kind not in KINDS:
            raise ValueError(f"metric {name}: kind must be one of {KINDS}, not {kind!r}")
        if (kind == "counter") != name.endswith("_total"):
            raise ValueError(f"metric {name}: counters, and only counters, end in _total")
        self._described[name] = Described(name, kind, tuple(labels), help_text)

    def described(self) -> list[Described]:
        """Every declared metric, sorted by name."""
        return sorted(self._described.values(), key=lambda d: d.name)

    def add_process_metrics(self) -> None:
        """Export the standard ``process_*`` metrics (CPU seconds, resident memory, open fds, start time)."""
        self._process_metrics = True
        if self._registry is not None:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=self._registry)

    def histogram(self, name: str, help_text: str, buckets: Sequence[float]) -> Histogram:
        """Declare and return histogram ``name`` (its ``_bucket``/``_sum``/``_count`` series)."""
        self.describe(name, "histogram", help_text, ("le",))
        hist = self._histograms[name] = Histogram(buckets)
        return hist

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` (``amount=0`` declares a labelled series, so it shows 0)."""
        key = tuple(sorted(labels.items()))
        series = self._values[name]
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set gauge ``name``."""
        self._values[name][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        """Return the current value (0 if never touched)."""
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def add_callback(self, fn: Callable[[], Iterable[Sample]]) -> None:
        """Register ``fn`` returning ``(name, labels, value)`` samples computed at scrape time."""
        self._callbacks.append(fn)

    def samples(self) -> dict[str, dict[Labels, float]]:
        """Every stored and computed sample (callbacks evaluated now), by metric name."""
        out: dict[str, dict[Labels, float]] = {k: dict(v) for k, v in self._values.items()}
        for fn in self._callbacks:
            for name, labels, value in fn():
                out.setdefault(name, {})[labels] = value
        return out

    def render(self) -> str:
        """Return the exposition text."""
        from prometheus_client import generate_latest

        return generate_latest(self._scrape_registry()).decode()

    def _scrape_registry(self) -> CollectorRegistry:
        """The prometheus-client registry behind :meth:`render`, built (and the library imported) on first use."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry, ProcessCollector

            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Collector(self))
            if self._process_metrics:
                ProcessCollector(registry=registry)
            self._registry = registry
        return self._registry


class _Collector:
    """Turns a :class:`Metrics` into prometheus-client metric families at scrape time (prometheus-client's
    ``Collector`` is an ABC with ``collect`` as its only abstract method: a plain class is one, without importing
    the library at import time)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Every metric family, sorted by name."""
        from prometheus_client.core import Metric

        m = self.metrics
        samples = m.samples()
        for name in sorted(set(samples) | set(m._described)):
            d = m._described.get(name)
            if d is not None and d.kind == "histogram":
                yield _histogram(d, m._histograms[name])
                continue
            kind, help_text = (d.kind, d.help) if d is not None else ("untyped", "")
            family = Metric(name.removesuffix("_total") if kind == "counter" else name, help_text, kind)
            series = samples.get(name) or ({(): 0.0} if d is None or not d.labels else {})
            for labels, value in sorted(series.items()):
                family.add_sample(name, dict(labels), value)
            yield family


def _histogram(d: Described, hist: Histogram) -> Metric:
    from prometheus_client.core import Metric

    family = Metric(d.name, d.help, "histogram")
    for le, count in hist.cumulative():
        family.add_sample(d.name + "_bucket", {"le": le}, count)
    family.add_sample(d.name + "_count", {}, float(sum(hist.counts)))
    family.add_sample(d.name + "_sum", {}, hist.sum)
    return family
