"""A store's metrics: what ``Store(..., metrics=registry)`` reports, and how.

Nothing here costs anything without ``metrics=``. With it, a store's
metrics come from three places, none of them a counter inside a backend:

* **Calls** of each operation are counted exactly, where every backend's
  operations enter: ``Store.set`` (the hot path, inlined there) and, for
  ``get``, ``get_many``, ``exists``, ``entry``, ``set_many``, ``delete``,
  ``clear``, ``snapshot``, ``restore`` and ``apply_changes`` (each batch a
  write-behind or a mirror commits, once its changes were checked), one
  wrapper each in a subclass of the store's class that ``Store.__new__``
  picks when ``metrics=`` is given (same name; ``scan`` is not counted).
  They are read as the counter ``pepperflow_store_operations`` at
  collection time.
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

import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Protocol, TypeVar

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

__all__ = ["SAMPLE_EVERY", "CallCount", "Measured", "StoreProbe", "metered_class", "store_probe"]

#: One call in this many of each operation is timed.
SAMPLE_EVERY = 64

#: The operations counted by a wrapper (``set`` is counted inline by
#: ``Store.set``), each with the method wrapped: the public one, except for
#: ``apply_changes``, whose commit (``_apply``) is wrapped so that a sink's
#: batches count too (a sink commits a batch of checked changes through it).
WRAPPED = {
    "get": "get",
    "get_many": "get_many",
    "exists": "exists",
    "entry": "entry",
    "set_many": "set_many",
    "delete": "delete",
    "clear": "clear",
    "snapshot": "snapshot",
    "restore": "restore",
    "apply_changes": "_apply",
}

_R = TypeVar("_R")
_S = TypeVar("_S", bound=type)


class PolicyFigures(Protocol):
    """A store's feed figures of one overflow policy (a ``FeedFigures``)."""

    @property
    def overflow(self) -> str: ...
    @property
    def feeds(self) -> int: ...
    @property
    def lag(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def overflowed(self) -> int: ...


class Figures(Protocol):
    """What a probe reports of a store's ``statistics()`` (a ``StoreStatistics``)."""

    @property
    def keys(self) -> int: ...
    @property
    def ttl_keys(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def subscriptions(self) -> int: ...
    @property
    def expired(self) -> int: ...
    @property
    def callback_errors(self) -> int: ...
    @property
    def feed_figures(self) -> Sequence[PolicyFigures]: ...


class Measured(Protocol):
    """What a probe reads of the store it measures (every
    :class:`~pepperflow.stores.Store` is one): this module imports nothing
    of the stores, which import it."""

    @property
    def name(self) -> str: ...
    @property
    def backend(self) -> str: ...
    def statistics(self) -> Figures: ...


class CallCount:
    """The calls of one operation, counted down to the next timed one.

    A call does ``left -= 1`` (a small int: no allocation); the call that
    brings ``left`` to 0 is timed and calls :meth:`restart`. The exact count
    is :attr:`calls`.
    """

    __slots__ = ("left", "passed", "window")

    def __init__(self) -> None:
        self.left = 1  # the first call is timed
        self.passed = 0
        self.window = 1

    def restart(self) -> None:
        """``left`` reached 0: count the window, start the next."""
        self.passed += self.window
        self.window = self.left = SAMPLE_EVERY

    @property
    def calls(self) -> int:
        """The calls counted so far."""
        return self.passed + self.window - self.left


def store_probe(store: Measured, metrics: object) -> StoreProbe | None:
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


@functools.cache
def metered_class(cls: _S) -> _S:
    """``cls`` with a counting wrapper around each operation of :data:`WRAPPED`.

    Made once per store class; its instances are made with it from the
    start (``Store.__new__``), so their attributes are laid out as any
    other instance's. It keeps ``cls``'s name.
    """
    namespace: dict[str, Any] = {
        method: _counting(op, getattr(cls, method)) for op, method in WRAPPED.items()
    }
    namespace.update(__module__=cls.__module__, __qualname__=cls.__qualname__, __slots__=())
    return type(cls)(cls.__name__, (cls,), namespace)


def _counting(operation: str, method: Callable[..., Awaitable[_R]]) -> Callable[..., Awaitable[_R]]:
    @functools.wraps(method)
    def counted(self: Any, /, *args: Any, **kwargs: Any) -> Awaitable[_R]:
        probe: StoreProbe = self._probe
        count = probe.counts[operation]
        count.left -= 1
        if count.left:
            return method(self, *args, **kwargs)
        count.restart()
        return probe.timed(operation, method(self, *args, **kwargs))

    return counted


class StoreProbe(CallCount):
    """Counts a store's calls, samples their durations, reports its figures.

    It is ``set``'s :class:`CallCount` itself (``Store.set`` counts down
    :attr:`left` inline); ``counts`` holds the other operations'.
    """

    __slots__ = ("__weakref__", "_observers", "counts", "labels", "registry")

    def __init__(self, store: Measured, registry: MetricsRegistry) -> None:
        super().__init__()
        self.registry = registry
        self.labels = {"store": store.name, "backend": store.backend}
        self.counts = {operation: CallCount() for operation in WRAPPED}
        # The duration histogram of each (operation, outcome), bound once.
        self._observers: dict[tuple[str, str], Callable[[float], None]] = {}
        ref = weakref.ref(store)
        remove = registry.add_collector(lambda: self._collect(ref, remove), STORE_KINDS)

    def timed_set(self, call: Awaitable[_R]) -> Coroutine[Any, Any, _R]:
        """``set``'s count reached its timed call (``left`` is 0): time ``call``."""
        self.restart()
        return self.timed("set", call)

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
        seconds = time.perf_counter() - started
        observe = self._observers.get((operation, outcome))
        if observe is None:
            observe = self._observers[operation, outcome] = self.registry.observer(
                STORE_OPERATION_SECONDS, operation=operation, outcome=outcome, **self.labels
            )
        observe(seconds)

    def operation_calls(self) -> dict[str, int]:
        """The calls of each operation so far."""
        out = {"set": self.calls}
        out.update((operation, count.calls) for operation, count in self.counts.items())
        return out

    def _collect(
        self, ref: weakref.ref[Measured], remove: Callable[[], None]
    ) -> list[MetricSample]:
        store = ref()
        if store is None:
            remove()
            return []
        return list(self._samples(store))

    def _samples(self, store: Measured) -> Iterator[MetricSample]:
        labels = self.labels
        for operation, count in self.operation_calls().items():
            series = {**labels, "operation": operation}
            yield MetricSample(STORE_OPERATIONS, "counter", series, float(count))
        stats = store.statistics()
        for name, value in (
            (STORE_KEYS, stats.keys),
            (STORE_TTL_KEYS, stats.ttl_keys),
            (STORE_SEQ, stats.seq),
            (STORE_SUBSCRIPTIONS, stats.subscriptions),
            (STORE_EXPIRATIONS, stats.expired),
            (STORE_CALLBACK_ERRORS, stats.callback_errors),
        ):
            yield MetricSample(name, STORE_KINDS[name], labels, float(value))
        for figures in stats.feed_figures:
            policy = {**labels, "overflow": figures.overflow}
            yield MetricSample(STORE_FEEDS, "gauge", policy, float(figures.feeds))
            yield MetricSample(STORE_FEED_LAG, "gauge", policy, float(figures.lag))
            yield MetricSample(STORE_FEED_DROPPED, "counter", policy, float(figures.dropped))
            yield MetricSample(STORE_FEED_OVERFLOWS, "counter", policy, float(figures.overflowed))
