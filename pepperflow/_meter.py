"""Operations as metrics: one vocabulary for every façade.

A façade (a state manager, a memory store, a provider or resource manager)
measures its operations with :func:`measured` on the method, never with
``try``/``except`` written around each body. Every measured operation is
recorded in the application's :class:`~pepperflow.MetricsSink` as:

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
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from ._metrics import MetricsSink

__all__ = ["OPERATIONS", "OPERATION_SECONDS", "Meter", "Metered", "measured"]

#: The counter of operations.
OPERATIONS = "pepperflow_operations"
#: The histogram of operation durations, in seconds.
OPERATION_SECONDS = "pepperflow_operation_seconds"

_P = ParamSpec("_P")
_R = TypeVar("_R")


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
