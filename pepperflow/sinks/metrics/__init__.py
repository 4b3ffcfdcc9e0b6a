"""Metrics: a registry the application owns, what records into it, exporters.

::

    from pepperflow.sinks.metrics import MetricsRegistry

    metrics = MetricsRegistry()
    async with MemoryStore("app", metrics=metrics) as store:
        await store.set("k", 1)
    metrics.samples()  # every series: the store's operations, keys, feeds...

Every store (``metrics=``), manager and monitor records into a
:class:`MetricsRegistry` (or any :class:`MetricsSink`), in one vocabulary
(:mod:`pepperflow.sinks.metrics._meter` names every metric). Exporters read
a registry when they are scraped, each an optional extra:
:mod:`pepperflow.sinks.metrics.prometheus` (``pepperflow[prometheus]``) and
:mod:`pepperflow.sinks.metrics.opentelemetry` (``pepperflow[opentelemetry]``).

The registry, the vocabulary and the store probe import nothing of the
stores (the store layer imports them); the exporters sit on top.
"""

from ._registry import DURATION_BUCKETS as DURATION_BUCKETS
from ._registry import Kind as Kind
from ._registry import MetricSample as MetricSample
from ._registry import MetricsRegistry as MetricsRegistry
from ._registry import MetricsSink as MetricsSink

__all__ = ["DURATION_BUCKETS", "Kind", "MetricSample", "MetricsRegistry", "MetricsSink"]
