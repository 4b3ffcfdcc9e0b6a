"""The one metrics vocabulary: every name pepperflow records, and the façades' meter.

Every metric pepperflow records is named here, with its help text
(:data:`HELP`, what the exporters print). Labels are ``str``.

Operations of the façades (a state manager, a memory store, a provider or
resource manager), measured with :func:`measured` on the method, never with
``try``/``except`` written around each body:

``pepperflow_operations`` (counter)
    labels ``component``, ``operation``, ``outcome`` and the component's
    own labels. ``outcome`` is ``"ok"``; the exception's class name when
    the operation raised (a cancellation is not an outcome: nothing is
    recorded); or what the method's ``outcome`` function says of its
    result (``"not_found"`` for a delete of an absent key).
``pepperflow_operation_seconds`` (histogram)
    the operation's duration in seconds, labels ``component``,
    ``operation``, ``outcome`` and the component's own labels.

Without a sink (``meter.sink is None``) a measured method costs one
attribute check.

Stores (``metrics=``), labels ``store`` and ``backend`` on each (see
:mod:`pepperflow.sinks.metrics._stores` for how each is derived):
:data:`STORE_KINDS` lists them. Resources (:class:`~pepperflow.ResourceMetrics`)
providers (:class:`~pepperflow.ProviderMonitor`'s R084 series) and storage
(:class:`~pepperflow.StorageMonitor`'s R065 series) have theirs below too.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from ._registry import Kind, MetricsRegistry, MetricsSink

__all__ = [
    "ACTIVE_RESOURCES",
    "CLEANUP_RUNS",
    "HELP",
    "OPERATIONS",
    "OPERATION_SECONDS",
    "PROVIDER_DURATION",
    "PROVIDER_OPERATIONS",
    "RESOURCES_ACQUIRED",
    "RESOURCES_RELEASED",
    "RESOURCE_ERRORS",
    "STORAGE_CHANGES",
    "STORAGE_ITEMS",
    "STORAGE_OPERATIONS",
    "STORAGE_SIZE",
    "STORE_CALLBACK_ERRORS",
    "STORE_EXPIRATIONS",
    "STORE_FEEDS",
    "STORE_FEED_DROPPED",
    "STORE_FEED_LAG",
    "STORE_FEED_OVERFLOWS",
    "STORE_KEYS",
    "STORE_KINDS",
    "STORE_OPERATIONS",
    "STORE_OPERATION_SECONDS",
    "STORE_SEQ",
    "STORE_SUBSCRIPTIONS",
    "STORE_TTL_KEYS",
    "Meter",
    "Metered",
    "checked_sink",
    "measured",
    "store_registry",
]

# -- the façades' operations ------------------------------------------------------
#: The counter of operations.
OPERATIONS = "pepperflow_operations"
#: The histogram of operation durations, in seconds.
OPERATION_SECONDS = "pepperflow_operation_seconds"

# -- stores (labels store, backend; what each means: HELP) ----------------------------
STORE_OPERATIONS = "pepperflow_store_operations"
STORE_OPERATION_SECONDS = "pepperflow_store_operation_seconds"
STORE_KEYS = "pepperflow_store_keys"
STORE_TTL_KEYS = "pepperflow_store_ttl_keys"
STORE_SEQ = "pepperflow_store_seq"
STORE_EXPIRATIONS = "pepperflow_store_expirations"
STORE_CALLBACK_ERRORS = "pepperflow_store_callback_errors"
STORE_SUBSCRIPTIONS = "pepperflow_store_subscriptions"
STORE_FEEDS = "pepperflow_store_feeds"
STORE_FEED_LAG = "pepperflow_store_feed_lag"
STORE_FEED_DROPPED = "pepperflow_store_feed_dropped"
STORE_FEED_OVERFLOWS = "pepperflow_store_feed_overflows"

#: Every store metric and its kind.
STORE_KINDS: dict[str, Kind] = {
    STORE_OPERATIONS: "counter",
    STORE_KEYS: "gauge",
    STORE_TTL_KEYS: "gauge",
    STORE_SEQ: "gauge",
    STORE_EXPIRATIONS: "counter",
    STORE_CALLBACK_ERRORS: "counter",
    STORE_SUBSCRIPTIONS: "gauge",
    STORE_FEEDS: "gauge",
    STORE_FEED_LAG: "gauge",
    STORE_FEED_DROPPED: "counter",
    STORE_FEED_OVERFLOWS: "counter",
}

# -- resources (label kind) and providers (R084's own series) --------------------------
RESOURCES_ACQUIRED = "pepperflow_resources_acquired"
RESOURCES_RELEASED = "pepperflow_resources_released"
RESOURCE_ERRORS = "pepperflow_resource_errors"
CLEANUP_RUNS = "pepperflow_cleanup_runs"
ACTIVE_RESOURCES = "pepperflow_active_resources"
PROVIDER_OPERATIONS = "provider_operations"
PROVIDER_DURATION = "provider_duration"
# -- storage (R065's own series, label content_type; pepperflow.StorageMonitor) --------
STORAGE_OPERATIONS = "storage_operations"
STORAGE_SIZE = "storage_size"
STORAGE_ITEMS = "storage_items"
STORAGE_CHANGES = "storage_changes"

#: What each metric means: the exporters' help text.
HELP: dict[str, str] = {
    OPERATIONS: "Operations of pepperflow's managers and views, by outcome.",
    OPERATION_SECONDS: "Durations of pepperflow's managers' and views' operations, in seconds.",
    STORE_OPERATIONS: "Calls of a store's operations, counted exactly.",
    STORE_OPERATION_SECONDS: (
        "Durations of sampled store operations (the first, then one in 64), in seconds, by outcome."
    ),
    STORE_KEYS: "Keys stored.",
    STORE_TTL_KEYS: "Keys with a ttl.",
    STORE_SEQ: "The seq of the store's newest change.",
    STORE_EXPIRATIONS: "Keys expired.",
    STORE_CALLBACK_ERRORS: "Change callbacks that raised.",
    STORE_SUBSCRIPTIONS: "Callback subscriptions.",
    STORE_FEEDS: "Change feeds open, by overflow policy.",
    STORE_FEED_LAG: "The most changes one feed has buffered and not consumed, by overflow policy.",
    STORE_FEED_DROPPED: (
        "Changes feeds dropped: the oldest (drop_oldest), or replaced by a newer one"
        " of their key (latest_per_key)."
    ),
    STORE_FEED_OVERFLOWS: "Feeds that failed with FeedOverflow, by overflow policy.",
    RESOURCES_ACQUIRED: "Resources acquired, by kind.",
    RESOURCES_RELEASED: "Resources released, by kind.",
    RESOURCE_ERRORS: "Resource factories and cleanups that raised, by kind.",
    CLEANUP_RUNS: "Runs of the resource cleanup.",
    ACTIVE_RESOURCES: "Resources active, by kind.",
    PROVIDER_OPERATIONS: "R084's provider operations, by success.",
    PROVIDER_DURATION: "R084's provider operation durations, in seconds.",
    STORAGE_OPERATIONS: "R065's storage operations, by content type, operation and success.",
    STORAGE_SIZE: "Bytes of the live items' data (msgpack), by content type.",
    STORAGE_ITEMS: "Live items, by content type.",
    STORAGE_CHANGES: "Storage changes followed (added, updated, removed), by content type.",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def checked_sink(metrics: object, what: str = "metrics") -> MetricsSink | None:
    """``metrics`` as a :class:`~pepperflow.MetricsSink` (or ``None``), checked once.

    Raises:
        TypeError: ``metrics`` lacks ``counter``, ``gauge`` or ``histogram``.
    """
    if metrics is None:
        return None
    if not all(callable(getattr(metrics, method, None)) for method in _SINK_METHODS):
        raise TypeError(
            f"{what} must be a MetricsSink (e.g. pepperflow.MetricsRegistry()) with"
            f" counter(name, value, **labels), gauge(...) and histogram(...)"
            f" methods, got {type(metrics).__name__}"
        )
    return cast("MetricsSink", metrics)


_SINK_METHODS = ("counter", "gauge", "histogram")


def store_registry(sink: MetricsSink | None) -> MetricsRegistry | None:
    """The registry the stores a façade builds report into: its ``metrics=``
    itself when that is a :class:`~pepperflow.MetricsRegistry`, else ``None``.

    A store's figures are read when the registry is read, through a collect
    callback (:mod:`pepperflow.sinks.metrics._stores`), which only a
    registry takes: given another :class:`~pepperflow.MetricsSink`, a façade
    records its own operations into it and the stores it builds report
    nothing.
    """
    return sink if isinstance(sink, MetricsRegistry) else None


class Meter:
    """Where one component's operations are recorded, with its labels.

    Args:
        sink: the application's metrics sink; ``None`` records nothing.
        component: ``"state"``, ``"memory"``, ``"provider"``, ``"resource"``, ...
        labels: labels on every series of this component (``manager="app"``).
    """

    __slots__ = ("component", "labels", "sink")

    def __init__(self, sink: MetricsSink | None, component: str, **labels: str) -> None:
        self.sink = sink
        self.component = component
        self.labels = labels

    def record(
        self, operation: str, outcome: str = "ok", seconds: float | None = None, **labels: str
    ) -> None:
        """Count one ``operation`` with its ``outcome``; observe ``seconds`` when given."""
        sink = self.sink
        if sink is None:
            return
        series = {
            "component": self.component,
            "operation": operation,
            "outcome": outcome,
            **self.labels,
            **labels,
        }
        sink.counter(OPERATIONS, 1, **series)
        if seconds is not None:
            sink.histogram(OPERATION_SECONDS, seconds, **series)

    def __repr__(self) -> str:
        return f"<Meter {self.component!r} {self.sink!r}>"


class Metered(Protocol):
    """An object whose operations are measured: it has a :class:`Meter`."""

    @property
    def meter(self) -> Meter: ...


_Self = TypeVar("_Self", bound=Metered)
_A = TypeVar("_A", bound=Awaitable[Any])
_Method = Callable[Concatenate[_Self, _P], _A]


def measured(
    operation: str, *, outcome: Callable[[Any], str] | None = None
) -> Callable[[_Method[_Self, _P, _A]], _Method[_Self, _P, _A]]:
    """Record every call of the decorated async method as ``operation``.

    ``outcome(result)`` names the outcome of a call that returned (default
    ``"ok"``); a call that raised an ``Exception`` is recorded with the
    exception's class name and the exception propagates unchanged.

    The wrapper is a plain function: without a sink it returns the
    method's own coroutine (no coroutine frame of its own, so an unmeasured
    call costs one attribute check); with a sink it returns a coroutine
    that times the method's.
    """

    def decorate(method: _Method[_Self, _P, _A]) -> _Method[_Self, _P, _A]:
        @functools.wraps(method)
        def measured_method(self: _Self, /, *args: _P.args, **kwargs: _P.kwargs) -> _A:
            meter = self.meter
            if meter.sink is None:
                return method(self, *args, **kwargs)
            call = _measure(meter, operation, outcome, method(self, *args, **kwargs))
            return cast("_A", call)  # a coroutine: what the method's callers await

        return measured_method

    return decorate


async def _measure(
    meter: Meter,
    operation: str,
    outcome: Callable[[Any], str] | None,
    call: Awaitable[_R],
) -> _R:
    started = time.perf_counter()
    try:
        result = await call
    except Exception as exc:
        meter.record(operation, type(exc).__name__, time.perf_counter() - started)
        raise
    named = "ok" if outcome is None else outcome(result)
    meter.record(operation, named, time.perf_counter() - started)
    return result
