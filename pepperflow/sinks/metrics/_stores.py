"""A store's metrics: what ``Store(..., metrics=registry)`` reports, and how.

Nothing here costs anything without ``metrics=``. With it, a store's
metrics come from three places, none of them a counter inside a backend:

* **Calls** of each operation are plain ints in the :class:`StoreProbe`,
  counted where every backend's operations enter: ``Store.set`` (the hot
  path, inlined there) and one wrapper per other operation, put on the
  store instance by the probe (``get``, ``get_many``, ``exists``,
  ``entry``, ``set_many``, ``delete``, ``clear``, ``snapshot``,
  ``restore``; ``scan`` is not counted). They are read as the counter
  ``pepperflow_store_operations`` at collection time.
* **Durations and outcomes** are sampled: the first call of each operation
  and then one in every :data:`SAMPLE_EVERY` is timed, and its duration is
  observed in the histogram ``pepperflow_store_operation_seconds`` with its
  outcome (``"ok"`` or the exception's class name; a cancellation is not
  recorded). Timing every call would cost more than the store's own set.
* **The store's figures** (keys, ttl keys, seq, expirations, callback
  errors, subscriptions, feeds: their lag, drops and overflows per overflow
  policy) are read from ``store.statistics()`` by a collect callback when
  the registry is read (a scrape), never when the store writes.

Every series has the labels ``store`` (its name) and ``backend``. The
registry holds the store weakly: a store that is gone stops reporting.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ._meter import (
    STORE_CALLBACK_ERRORS,
    STORE_EXPIRATIONS,
    STORE_FEED_DROPPED,
    STORE_FEED_LAG,
    STORE_FEED_OVERFLOWS,
    STORE_FEEDS,
    STORE_KEYS,
    STORE_KINDS,
    STORE_OPERATION_SECONDS,
    STORE_OPERATIONS,
    STORE_SEQ,
    STORE_SUBSCRIPTIONS,
    STORE_TTL_KEYS,
)
from ._registry import MetricSample, MetricsRegistry

if TYPE_CHECKING:
    from ...stores.base import Store

__all__ = ["SAMPLE_EVERY", "StoreProbe", "store_probe"]

#: One call in this many of each operation is timed (a power of two).
SAMPLE_EVERY = 16

#: The operations counted by a wrapper (``set`` is counted inline by ``Store.set``).
WRAPPED = (
    "get",
    "get_many",
    "exists",
    "entry",
    "set_many",
    "delete",
    "clear",
    "snapshot",
    "restore",
)

_R = TypeVar("_R")


def store_probe(store: Store[Any], metrics: object) -> StoreProbe | None:
    """The probe of ``store`` recording into ``metrics``; ``None`` without metrics.

    Raises:
        TypeError: ``metrics`` is not a :class:`~pepperflow.MetricsRegistry`.
    """
    if metrics is None:
        return None
    if not isinstance(metrics, MetricsRegistry):
        raise TypeError(
            f"store {store.name!r}: metrics must be a pepperflow.MetricsRegistry (the"
            f" registry the store reports into at collection time), got"
            f" {type(metrics).__name__}; pass metrics=MetricsRegistry()"
        )
    return StoreProbe(store, metrics)


class StoreProbe:
    """Counts a store's calls, samples their durations, reports its figures.

    ``sets`` is read and written by ``Store.set`` directly (one attribute
    add per call); ``mask`` is ``SAMPLE_EVERY - 1``: a set whose count
    before it has no bit of ``mask`` set is timed.
    """

    __slots__ = ("__weakref__", "calls", "labels", "mask", "registry", "sets")

    def __init__(self, store: Store[Any], registry: MetricsRegistry) -> None:
        self.registry = registry
        self.labels = {"store": store.name, "backend": store.backend}
        self.sets = 0
        self.mask = SAMPLE_EVERY - 1
        self.calls = dict.fromkeys(WRAPPED, 0)
        for operation in WRAPPED:
            setattr(store, operation, self._wrap(operation, getattr(store, operation)))
        ref = weakref.ref(store)
        remove = registry.add_collector(lambda: self._collect(ref, remove), STORE_KINDS)

    def _wrap(
        self, operation: str, method: Callable[..., Awaitable[_R]]
    ) -> Callable[..., Awaitable[_R]]:
        calls = self.calls
        mask = self.mask

        def counted(*args: Any, **kwargs: Any) -> Awaitable[_R]:
            n = calls[operation]
            calls[operation] = n + 1
            if n & mask:
                return method(*args, **kwargs)
            return self.timed(operation, method(*args, **kwargs))

        counted.__doc__ = method.__doc__
        counted.__name__ = operation
        return counted

    async def timed(self, operation: str, call: Awaitable[_R]) -> _R:
        """Await ``call``; observe its duration with its outcome."""
        started = time.perf_counter()
        try:
            result = await call
        except Exception as exc:
            self._observe(operation, type(exc).__name__, started)
            raise
        self._observe(operation, "ok", started)
        return result

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        self.registry.histogram(
            STORE_OPERATION_SECONDS,
            time.perf_counter() - started,
            operation=operation,
            outcome=outcome,
            **self.labels,
        )

    def _collect(
        self, ref: weakref.ref[Store[Any]], remove: Callable[[], None]
    ) -> list[MetricSample]:
        store = ref()
        if store is None:
            remove()
            return []
        return list(self._samples(store))

    def _samples(self, store: Store[Any]) -> Iterator[MetricSample]:
        labels = self.labels
        calls = {"set": self.sets, **self.calls}
        for operation, count in calls.items():
            yield MetricSample(
                STORE_OPERATIONS, "counter", {**labels, "operation": operation}, count
            )
        stats = store.statistics()
        for name, value in (
            (STORE_KEYS, stats.keys),
            (STORE_TTL_KEYS, stats.ttl_keys),
            (STORE_SEQ, stats.seq),
            (STORE_SUBSCRIPTIONS, stats.subscriptions),
            (STORE_EXPIRATIONS, stats.expired),
            (STORE_CALLBACK_ERRORS, stats.callback_errors),
        ):
            yield MetricSample(name, STORE_KINDS[name], labels, value)
        for figures in stats.feed_figures:
            policy = {**labels, "overflow": figures.overflow}
            yield MetricSample(STORE_FEEDS, "gauge", policy, figures.feeds)
            yield MetricSample(STORE_FEED_LAG, "gauge", policy, figures.lag)
            yield MetricSample(STORE_FEED_DROPPED, "counter", policy, figures.dropped)
            yield MetricSample(STORE_FEED_OVERFLOWS, "counter", policy, figures.overflowed)
