"""A registry exported through OpenTelemetry metrics (``pip install 'pepperflow[opentelemetry]'``).

::

    from opentelemetry.sdk.metrics import MeterProvider
    from pepperflow.sinks.metrics.opentelemetry import OpenTelemetryBridge

    provider = MeterProvider(metric_readers=[reader])
    bridge = OpenTelemetryBridge(metrics, provider)  # bridge.close() to stop

The bridge gives every metric of a :class:`~pepperflow.MetricsRegistry`
(those known now and those that appear later) an instrument of the
OpenTelemetry meter ``"pepperflow"``:

* a counter is an **observable counter** and a gauge an **observable
  gauge**, whose callbacks read the registry when the reader collects
  (so a store's figures are read at that moment), labels as attributes;
* a histogram is a **histogram** with the registry's bucket bounds as its
  advisory boundaries, to which the bridge forwards every observation made
  from the moment it was created (the OpenTelemetry API has no observable
  histogram; observations made before the bridge are not replayed).

The callbacks read the registry in the thread that collects: collect from
the event loop's thread, e.g. ``InMemoryMetricReader.get_metrics_data()``,
or a ``PeriodicExportingMetricReader(exporter,
export_interval_millis=math.inf)`` whose ``force_flush()`` a task of the
application calls periodically. A reader's own thread would read the
registry while the loop writes it.

Importing this module without the OpenTelemetry SDK raises
:class:`~pepperflow.MissingExtra`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from ...stores.url import require
from ._meter import HELP
from ._registry import Kind, MetricsRegistry

require("opentelemetry.sdk.metrics", "opentelemetry", "pepperflow.sinks.metrics.opentelemetry")

from opentelemetry.metrics import (  # noqa: E402
    CallbackOptions,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    get_meter_provider,
)

__all__ = ["OpenTelemetryBridge"]

#: The name of the OpenTelemetry meter the bridge's instruments belong to.
METER_NAME = "pepperflow"


class OpenTelemetryBridge:
    """Every metric of ``registry`` as an instrument of ``meter_provider``'s meter.

    See the module docstring. ``meter_provider`` defaults to the global one
    (``opentelemetry.metrics.get_meter_provider()``).

    Raises:
        TypeError: ``registry`` is not a :class:`~pepperflow.MetricsRegistry`.
    """

    def __init__(
        self, registry: MetricsRegistry, meter_provider: MeterProvider | None = None
    ) -> None:
        if not isinstance(registry, MetricsRegistry):
            raise TypeError(
                f"OpenTelemetryBridge reads a pepperflow.MetricsRegistry, got"
                f" {type(registry).__name__}"
            )
        provider = get_meter_provider() if meter_provider is None else meter_provider
        self.registry = registry
        self.meter: Meter = provider.get_meter(METER_NAME)
        self._histograms: dict[str, Histogram] = {}
        self._closed = False
        self._removers: list[Callable[[], None]] = [
            registry.on_new_metric(self._instrument),
            registry.add_listener(self._forward),
        ]

    def _instrument(self, name: str, kind: Kind) -> None:
        """Make the instrument of a metric the registry just learnt of."""
        description = HELP.get(name, name)
        if kind == "histogram":
            self._histograms[name] = self.meter.create_histogram(
                name,
                unit="s" if name.endswith("seconds") else "",
                description=description,
                explicit_bucket_boundaries_advisory=self.registry.buckets,
            )
            return
        callback = partial(self._observe, name)
        if kind == "counter":
            self.meter.create_observable_counter(name, [callback], description=description)
        else:
            self.meter.create_observable_gauge(name, [callback], description=description)

    def _observe(self, name: str, options: CallbackOptions) -> Iterable[Observation]:
        if self._closed:
            return []
        return [Observation(sample.value, sample.labels) for sample in self.registry.samples(name)]

    def _forward(self, name: str, value: float, labels: dict[str, str]) -> None:
        histogram = self._histograms.get(name)
        if histogram is not None:
            histogram.record(value, labels)

    def close(self) -> None:
        """Stop: the instruments report nothing more (idempotent)."""
        self._closed = True
        for remove in self._removers:
            remove()
        self._removers = []

    def __repr__(self) -> str:
        return f"<OpenTelemetryBridge {self.registry!r}>"
