"""``map`` and ``filter`` that fuse: a chain of them is one observer.

``pipe(source, filter(p), map(f), filter(q))`` subscribes one sink to
``source``; each value runs ``p``, ``f`` and ``q`` in turn in one ``asend``
and, if it passed every filter, goes to the observer with one await. The
same chain of aioreactive's ``map``/``filter`` (or of separate sinks) makes
one observer and one awaited ``asend`` per stage. The edges are still
aioreactive's protocols: the source sees one ``AsyncObserver``, the observer
one ``AsyncObservable``.

The rules are those of every operator here (see :mod:`.transform`): they
run in the producer's task, whose ``asend`` returns after the observer took
the value (backpressure); values keep their order; the source's ``athrow``
/ ``aclose`` go downstream; an exception from a user function (or from the
observer's ``asend``) ends the stream with it through ``athrow`` and
unsubscribes from the source; after the end or a dispose nothing more goes
out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from ._core import Observable, Operator, Sink, TakesRuns

__all__ = ["filter", "map"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: One stage: (True, predicate) keeps values it passes; (False, mapper) replaces them.
_Step = tuple[bool, Callable[[Any], Any]]


class _Steps(Sink[Any, Any], TakesRuns):
    """The one sink of a fused chain; it takes runs of values too (:class:`TakesRuns`)."""

    def __init__(self, downstream: AsyncObserver[Any], steps: tuple[_Step, ...]) -> None:
        super().__init__(downstream)
        self._steps = steps

    async def asend(self, value: Any) -> None:
        if self._done:
            return
        try:
            for keeps, fn in self._steps:
                if not keeps:
                    value = fn(value)
                elif not fn(value):
                    break
            else:
                await self._down.asend(value)
        except Exception as exc:  # from a step or from the observer: the end
            await self._fail(exc)

    async def asend_from(self, values: deque[Any]) -> None:
        """:meth:`asend` for each value taken off the left of ``values`` (one
        call for a run: a store's ``set_many``); see :class:`TakesRuns`."""
        steps, down, take = self._steps, self._down, values.popleft
        while values:
            if self._done:
                values.clear()
                return
            value = take()
            try:
                for keeps, fn in steps:
                    if not keeps:
                        value = fn(value)
                    elif not fn(value):
                        break
                else:
                    await down.asend(value)
            except Exception as exc:
                await self._fail(exc)


class _Fused(Observable[Any]):
    """``source`` seen through ``steps``; each subscription is one :class:`_Steps`."""

    __slots__ = ("_source", "_steps")

    def __init__(self, source: AsyncObservable[Any], steps: tuple[_Step, ...]) -> None:
        self._source = source
        self._steps = steps

    async def _subscribe(self, observer: AsyncObserver[Any]) -> AsyncDisposable:
        return await _Steps(observer, self._steps).attach(self._source)


def _then(step: _Step) -> Operator[Any, Any]:
    def _operator(source: AsyncObservable[Any]) -> AsyncObservable[Any]:
        if isinstance(source, _Fused):  # fuse: one sink on the first source
            return _Fused(source._source, (*source._steps, step))
        return _Fused(source, (step,))

    return _operator


def _check(name: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{name}: the function must be callable, got {fn!r}")


def map(mapper: Callable[[_T], _R]) -> Operator[_T, _R]:
    """Each value as ``mapper(value)``.

    ::

        source:              -1-2-|
        map(lambda x: x+1):  -2-3-|

    Chained with other ``map``/``filter`` of this module it fuses into one
    observer (see the module docstring).

    Raises:
        TypeError: ``mapper`` is not callable.
    """
    _check("map(mapper)", mapper)
    return _then((False, mapper))


def filter(predicate: Callable[[_T], object]) -> Operator[_T, _T]:
    """The values for which ``predicate(value)`` is true.

    ::

        source:                    -1-2-3-|
        filter(lambda x: x != 2):  -1---3-|

    Chained with other ``map``/``filter`` of this module it fuses into one
    observer (see the module docstring).

    Raises:
        TypeError: ``predicate`` is not callable.
    """
    _check("filter(predicate)", predicate)
    return _then((True, predicate))
