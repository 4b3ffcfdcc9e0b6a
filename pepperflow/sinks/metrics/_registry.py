"""Metrics the application owns: a sink protocol and an in-memory registry.

There is no global registry. The application creates a
:class:`MetricsRegistry` (or an adapter implementing :class:`MetricsSink`)
and passes it to what records metrics: stores (``metrics=``), managers,
:class:`~pepperflow.ProviderMonitor`, :class:`~pepperflow.ResourceMetrics`.
The exporters (:mod:`pepperflow.sinks.metrics.prometheus`,
:mod:`pepperflow.sinks.metrics.opentelemetry`) read a registry when they
are scraped.

The call shape is the one the seeds use: ``counter(name, value, **labels)``,
``gauge(name, value, **labels)``, ``histogram(name, value, **labels)``, label
values being ``str``. A series is a name plus its labels (their order does
not matter). ``name`` and ``value`` are positional-only, so any label name
(``name=`` included) can be used.

Cost: a series recorded before is found in one dict lookup keyed by its
labels as given (bench/bench_metrics.py measures it next to a plain dict
increment); the first record of a series checks its labels and its kind.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Literal, Protocol, TypeVar

import msgspec

from ..._html import record_html, rows_html

__all__ = [
    "DURATION_BUCKETS",
    "Collect",
    "Kind",
    "MetricSample",
    "MetricsRegistry",
    "MetricsSink",
]

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]
#: A collect callback: the samples of series read at collection time.
Collect = Callable[[], Iterable["MetricSample"]]
#: Called with each histogram observation (name, value, labels); see ``add_listener``.
Listener = Callable[[str, float, dict[str, str]], None]

_S = TypeVar("_S")

#: Upper bounds (seconds) of the histograms' buckets by default: from 1 µs
#: (an in-process store operation) to 10 s (a slow remote call).
DURATION_BUCKETS: tuple[float, ...] = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005,
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


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
    ``maximum`` beside it, and its buckets: ``bucket_counts[i]`` counts the
    observations ``<= bounds[i]`` and above the bound before it; the last
    count (one more than ``bounds``) is those above every bound.
    """

    name: str
    kind: Kind
    labels: dict[str, str]
    value: float
    count: int = 0
    minimum: float | None = None
    maximum: float | None = None
    bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()

    _repr_html_ = record_html


class _Cell:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class _Histogram:
    __slots__ = ("bounds", "buckets", "count", "maximum", "minimum", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value

    def sample(self, name: str, labels: Labels) -> MetricSample:
        return MetricSample(
            name,
            "histogram",
            dict(labels),
            self.total,
            self.count,
            self.minimum,
            self.maximum,
            self.bounds,
            tuple(self.buckets),
        )


def _labels(name: str, labels: Mapping[str, str]) -> Labels:
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


def _check_bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(_number("buckets", bound)) for bound in buckets)
    if not bounds or list(bounds) != sorted(set(bounds)) or math.isinf(bounds[-1]):
        raise ValueError(
            f"buckets must be finite upper bounds in increasing order, e.g."
            f" pepperflow.sinks.metrics.DURATION_BUCKETS; got {buckets!r}"
        )
    return bounds


class MetricsRegistry:
    """Counters, gauges and histograms kept in memory, read back by name and labels.

    A name is one kind of metric: recording a gauge under a counter's name
    raises ``ValueError``. Histograms count their observations in
    ``buckets`` (upper bounds, :data:`DURATION_BUCKETS` by default).

    Besides what is recorded into it, a registry reads series at
    collection time from its collect callbacks (:meth:`add_collector`):
    that is how a store reports its figures without a cost per operation.
    Series with the same name and labels add up.
    """

    def __init__(self, *, buckets: Sequence[float] = DURATION_BUCKETS) -> None:
        #: The upper bounds of every histogram's buckets.
        self.buckets = _check_bounds(buckets)
        self._kinds: dict[str, Kind] = {}
        self._counters: dict[tuple[str, Labels], _Cell] = {}
        self._gauges: dict[tuple[str, Labels], _Cell] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}
        # The fast paths: a series by its name and labels as given.
        self._counter_cells: dict[tuple[str, tuple[tuple[str, str], ...]], _Cell] = {}
        self._gauge_cells: dict[tuple[str, tuple[tuple[str, str], ...]], _Cell] = {}
        self._histogram_cells: dict[tuple[str, tuple[tuple[str, str], ...]], _Histogram] = {}
        self._collectors: list[tuple[Collect, dict[str, Kind]]] = []
        self._listeners: list[Listener] = []
        self._on_new_name: list[Callable[[str, Kind], None]] = []

    # -- recording -------------------------------------------------------------

    def counter(self, name: str, value: float = 1, /, **labels: str) -> None:
        cell = self._counter_cells.get((name, tuple(labels.items())))
        if cell is not None and (type(value) is int or type(value) is float) and value >= 0:
            cell.value += value
            return
        number = _number(name, value)
        if number < 0:
            raise ValueError(f"counter {name!r} only goes up; got {value!r}")
        self._series(name, "counter", labels, self._counters, self._counter_cells, _Cell)
        self._counter_cells[name, tuple(labels.items())].value += number

    def gauge(self, name: str, value: float, /, **labels: str) -> None:
        cell = self._gauge_cells.get((name, tuple(labels.items())))
        if cell is not None and (type(value) is int or type(value) is float) and value == value:
            cell.value = float(value)
            return
        number = _number(name, value)
        self._series(name, "gauge", labels, self._gauges, self._gauge_cells, _Cell)
        self._gauge_cells[name, tuple(labels.items())].value = number

    def histogram(self, name: str, value: float, /, **labels: str) -> None:
        histogram = self._histogram_cells.get((name, tuple(labels.items())))
        if histogram is None or not (type(value) is int or type(value) is float) or value != value:
            value = _number(name, value)
            histogram = self._histogram(name, labels)
        histogram.observe(value)
        if self._listeners:
            for listener in self._listeners:
                listener(name, value, labels)

    def observer(self, name: str, /, **labels: str) -> Callable[[float], None]:
        """The histogram ``name`` with ``labels``, bound: call it with each observation.

        The fast path of a series observed often (a store's sampled
        durations): no label handling per call. The value is not checked:
        pass a number.

        Raises:
            TypeError: a label value that is not a str.
            ValueError: ``name`` is another kind of metric.
        """
        histogram = self._histogram(name, labels)
        listeners = self._listeners

        def observe(value: float) -> None:
            histogram.observe(value)
            if listeners:
                for listener in listeners:
                    listener(name, value, labels)

        return observe

    def _histogram(self, name: str, labels: dict[str, str]) -> _Histogram:
        make, cells = partial(_Histogram, self.buckets), self._histogram_cells
        return self._series(name, "histogram", labels, self._histograms, cells, make)

    def _series(
        self,
        name: str,
        kind: Kind,
        labels: dict[str, str],
        series: dict[tuple[str, Labels], _S],
        cells: dict[tuple[str, tuple[tuple[str, str], ...]], _S],
        make: Callable[[], _S],
    ) -> _S:
        """The series ``name`` with ``labels`` (checked here), made on first use."""
        key = (name, _labels(name, labels))
        self._kind(name, kind)
        found = series.get(key)
        if found is None:
            found = series[key] = make()
        cells[name, tuple(labels.items())] = found
        return found

    def _kind(self, name: str, kind: Kind) -> None:
        known = self._kinds.get(name)
        if known is None:
            self._kinds[name] = kind
            for announce in self._on_new_name:
                announce(name, kind)
        elif known != kind:
            raise ValueError(f"metric {name!r} is a {known}; record it as one, or rename it")

    # -- collect callbacks and listeners -----------------------------------------

    def add_collector(self, collect: Collect, kinds: Mapping[str, Kind]) -> Callable[[], None]:
        """Read series from ``collect()`` at every collection; return its remover.

        ``kinds`` names every metric ``collect`` may return, with its kind
        (exporters declare them up front). ``collect`` runs when samples are
        read (:meth:`samples`, a scrape), never when something is recorded;
        a counter it returns is the total so far.

        Raises:
            ValueError: a name is already known as another kind.
        """
        declared = dict(kinds)
        for name, kind in declared.items():
            self._kind(name, kind)
        entry = (collect, declared)
        self._collectors.append(entry)

        def remove() -> None:
            if entry in self._collectors:
                self._collectors.remove(entry)

        return remove

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(name, value, labels)`` with every histogram observation
        from now on; return its remover (an exporter that forwards observations)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def on_new_metric(self, announce: Callable[[str, Kind], None]) -> Callable[[], None]:
        """Call ``announce(name, kind)`` for every metric known now and every new
        one from now on; return its remover."""
        for name, kind in list(self._kinds.items()):
            announce(name, kind)
        self._on_new_name.append(announce)
        return lambda: self._on_new_name.remove(announce) if announce in self._on_new_name else None

    def kinds(self) -> dict[str, Kind]:
        """Every metric name known (recorded or declared by a collector) and its kind."""
        return dict(self._kinds)

    # -- reading -----------------------------------------------------------------

    def value(self, name: str, /, **labels: str) -> float:
        """The counter's total or the gauge's value for exactly these labels (0 if none)."""
        wanted = _labels(name, labels)
        for sample in self.samples(name):
            if sample.kind != "histogram" and tuple(sorted(sample.labels.items())) == wanted:
                return sample.value
        return 0.0

    def total(self, name: str, /, **labels: str) -> float:
        """The sum of a counter over every series whose labels include ``labels``."""
        wanted = set(_labels(name, labels))
        return sum(
            sample.value
            for sample in self.samples(name)
            if sample.kind == "counter" and wanted <= set(sample.labels.items())
        )

    def samples(self, name: str | None = None) -> list[MetricSample]:
        """Every series (or those of metric ``name``), sorted by name then labels.

        Runs the collect callbacks that may return ``name`` (all of them
        without a name).
        """
        merged: dict[tuple[str, Labels], MetricSample] = {}
        for sample in self._own(name):
            merged[sample.name, tuple(sorted(sample.labels.items()))] = sample
        for collect, kinds in list(self._collectors):
            if name is not None and name not in kinds:
                continue
            for sample in collect():
                if name is None or sample.name == name:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    merged[key] = _add(merged.get(key), sample)
        return [merged[key] for key in sorted(merged)]

    def _own(self, name: str | None) -> Iterable[MetricSample]:
        for (series, labels), cell in self._counters.items():
            if name is None or series == name:
                yield MetricSample(series, "counter", dict(labels), cell.value)
        for (series, labels), cell in self._gauges.items():
            if name is None or series == name:
                yield MetricSample(series, "gauge", dict(labels), cell.value)
        for (series, labels), histogram in self._histograms.items():
            if name is None or series == name:
                yield histogram.sample(series, labels)

    def __repr__(self) -> str:
        return f"<MetricsRegistry {len(self._kinds)} metrics>"

    def _repr_html_(self) -> str:
        return rows_html(repr(self), self.samples(), drop=("bounds", "bucket_counts"))


def _add(old: MetricSample | None, new: MetricSample) -> MetricSample:
    """Two samples of one series added up (a gauge of two stores of one name, say)."""
    if old is None:
        return new
    if new.kind != "histogram" or old.bounds != new.bounds:
        return msgspec.structs.replace(old, value=old.value + new.value)
    return msgspec.structs.replace(
        old,
        value=old.value + new.value,
        count=old.count + new.count,
        minimum=_either(min, old.minimum, new.minimum),
        maximum=_either(max, old.maximum, new.maximum),
        bucket_counts=tuple(
            a + b for a, b in zip(old.bucket_counts, new.bucket_counts, strict=True)
        ),
    )


def _either(
    pick: Callable[[float, float], float], a: float | None, b: float | None
) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)
