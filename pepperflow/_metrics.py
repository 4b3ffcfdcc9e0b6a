"""Metrics the application owns: a sink protocol and an in-memory registry.

There is no global registry. The application creates a
:class:`MetricsRegistry` (or an adapter to Prometheus, OpenTelemetry, ...
implementing :class:`MetricsSink`) and passes it to what records metrics
(:class:`~pepperflow.ProviderMonitor`, :class:`~pepperflow.ResourceMetrics`).

The call shape is the one the seeds use: ``counter(name, value, **labels)``,
``gauge(name, value, **labels)``, ``histogram(name, value, **labels)``, label
values being ``str``. A series is a name plus its labels (their order does
not matter). ``name`` and ``value`` are positional-only, so any label name
(``name=`` included) can be used.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import msgspec

__all__ = ["MetricSample", "MetricsRegistry", "MetricsSink"]

Labels = tuple[tuple[str, str], ...]


class MetricsSink(Protocol):
    """Where metrics go; implement it to export them anywhere."""

    def counter(self, name: str, value: float = 1, /, **labels: str) -> None:
        """Add ``value`` (>= 0) to the counter ``name`` with ``labels``."""

    def gauge(self, name: str, value: float, /, **labels: str) -> None:
        """Set the gauge ``name`` with ``labels`` to ``value``."""

    def histogram(self, name: str, value: float, /, **labels: str) -> None:
        """Observe ``value`` in the histogram ``name`` with ``labels``."""


class MetricSample(msgspec.Struct, frozen=True):
    """One series of a :class:`MetricsRegistry` (``registry.samples()``).

    ``value`` is the counter's total or the gauge's value; for a histogram
    it is the sum of the observations, with ``count``, ``minimum`` and
    ``maximum`` beside it.
    """

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: dict[str, str]
    value: float
    count: int = 0
    minimum: float | None = None
    maximum: float | None = None


class _Histogram:
    __slots__ = ("count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf


def _labels(name: str, labels: dict[str, str]) -> Labels:
    for label, value in labels.items():
        if type(value) is not str:
            raise TypeError(
                f"metric {name!r}: label {label}={value!r} must be a str"
                f" (got {type(value).__name__}); convert it, e.g. str(value)"
            )
    return tuple(sorted(labels.items()))


def _number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"metric {name!r}: the value must be a number, got {value!r}")
    return float(value)


class MetricsRegistry:
    """Counters, gauges and histograms kept in memory, read back by name and labels.

    A name is one kind of metric: recording a gauge under a counter's name
    raises ``ValueError``.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._counters: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}

    def _kind(self, name: str, kind: str) -> None:
        known = self._kinds.setdefault(name, kind)
        if known != kind:
            raise ValueError(f"metric {name!r} is a {known}; record it as one, or rename it")

    def counter(self, name: str, value: float = 1, /, **labels: str) -> None:
        number = _number(name, value)
        if number < 0:
            raise ValueError(f"counter {name!r} only goes up; got {value!r}")
        series = (name, _labels(name, labels))
        self._kind(name, "counter")
        self._counters[series] = self._counters.get(series, 0.0) + number

    def gauge(self, name: str, value: float, /, **labels: str) -> None:
        number = _number(name, value)
        series = (name, _labels(name, labels))
        self._kind(name, "gauge")
        self._gauges[series] = number

    def histogram(self, name: str, value: float, /, **labels: str) -> None:
        number = _number(name, value)
        series = (name, _labels(name, labels))
        self._kind(name, "histogram")
        histogram = self._histograms.get(series)
        if histogram is None:
            histogram = self._histograms[series] = _Histogram()
        histogram.count += 1
        histogram.total += number
        histogram.minimum = min(histogram.minimum, number)
        histogram.maximum = max(histogram.maximum, number)

    def value(self, name: str, /, **labels: str) -> float:
        """The counter's total or the gauge's value for exactly these labels (0 if none)."""
        series = (name, _labels(name, labels))
        if series in self._gauges:
            return self._gauges[series]
        return self._counters.get(series, 0.0)

    def total(self, name: str, /, **labels: str) -> float:
        """The sum of a counter over every series whose labels include ``labels``."""
        wanted = set(_labels(name, labels))
        return sum(
            value
            for (series, series_labels), value in self._counters.items()
            if series == name and wanted <= set(series_labels)
        )

    def samples(self) -> list[MetricSample]:
        """Every series, sorted by name then labels."""
        out: list[MetricSample] = []
        for (name, labels), value in self._counters.items():
            out.append(MetricSample(name, "counter", dict(labels), value))
        for (name, labels), value in self._gauges.items():
            out.append(MetricSample(name, "gauge", dict(labels), value))
        for (name, labels), h in self._histograms.items():
            out.append(
                MetricSample(
                    name, "histogram", dict(labels), h.total, h.count, h.minimum, h.maximum
                )
            )
        out.sort(key=lambda s: (s.name, sorted(s.labels.items())))
        return out

    def __repr__(self) -> str:
        return f"<MetricsRegistry {len(self._kinds)} metrics>"
