"""Operators that pass, drop or end a stream value by value (no tasks, no buffer).

Each runs in the producer's task: the producer's ``asend`` returns after
the downstream observer took the value (backpressure). An exception from
a user function (predicate, key) ends the stream with that exception
through ``athrow`` and unsubscribes from the source.

``take``, ``skip`` and ``distinct_until_changed`` send with ``Sink._send``
inlined (a hot path, measured: calling it took the ``skip -> distinct ->
take`` pipeline of bench_streams.py from ~1.4 M to ~0.9 M events/s).

Marble diagrams: one tick per character, or per group of events in one
tick such as ``(b|)``; ``a`` ``b`` ... are values, ``|`` the end
(``aclose``), ``#`` an error (``athrow``); see docs/streams.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aioreactive import AsyncObservable, AsyncObserver

from ._core import Operator, Sink, piped
from ._worker import check_count

__all__ = ["distinct_until_changed", "skip", "take", "take_while"]

_T = TypeVar("_T")


class _Take(Sink[_T, _T]):
    def __init__(self, downstream: AsyncObserver[_T], count: int) -> None:
        super().__init__(downstream)
        self._left = count

    async def attach(self, source: AsyncObservable[_T]) -> Sink[_T, _T]:
        if self._left == 0:
            await self._finish()
            return self
        return await super().attach(source)

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        self._left -= 1
        try:
            await self._down.asend(value)
        except Exception as exc:
            await self._fail(exc)
            return
        if self._left == 0:
            await self._finish()


def take(count: int) -> Operator[_T, _T]:
    """The first ``count`` values, then the end (the source is unsubscribed).

    ::

        source:   -a-b-c-d-|
        take(2):  -a-(b|)

    ``take(0)`` ends at once without subscribing to the source.

    Raises:
        ValueError: ``count`` is not an int >= 0.
    """
    n = check_count("take(count): count", count, 0)
    return piped(lambda down: _Take(down, n))


class _Skip(Sink[_T, _T]):
    def __init__(self, downstream: AsyncObserver[_T], count: int) -> None:
        super().__init__(downstream)
        self._left = count

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        if self._left:
            self._left -= 1
            return
        try:
            await self._down.asend(value)
        except Exception as exc:
            await self._fail(exc)


def skip(count: int) -> Operator[_T, _T]:
    """Every value after the first ``count``.

    ::

        source:   -a-b-c-d-|
        skip(2):  -----c-d-|

    Raises:
        ValueError: ``count`` is not an int >= 0.
    """
    n = check_count("skip(count): count", count, 0)
    return piped(lambda down: _Skip(down, n))


class _TakeWhile(Sink[_T, _T]):
    def __init__(
        self, downstream: AsyncObserver[_T], predicate: Callable[[_T], object], inclusive: bool
    ) -> None:
        super().__init__(downstream)
        self._predicate = predicate
        self._inclusive = inclusive

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        try:
            keep = self._predicate(value)
        except Exception as exc:
            await self._fail(exc)
            return
        if keep:
            await self._send(value)
            return
        if self._inclusive and not await self._send(value):
            return
        await self._finish()


def take_while(predicate: Callable[[_T], object], *, inclusive: bool = False) -> Operator[_T, _T]:
    """Values while ``predicate(value)`` is true; the end at the first false one.

    ::

        source:                             -1-2-5-1-|
        take_while(lambda x: x < 3):        -1-2-|
        take_while(lambda x: x < 3, inclusive=True):
                                            -1-2-(5|)

    With ``inclusive=True`` the first value that fails the predicate is
    sent before the end.
    """
    if not callable(predicate):
        raise TypeError(f"take_while(predicate): predicate must be callable, got {predicate!r}")

    return piped(lambda down: _TakeWhile(down, predicate, inclusive))


_NOTHING: Any = object()


class _Distinct(Sink[_T, _T]):
    def __init__(self, downstream: AsyncObserver[_T], key: Callable[[_T], object] | None) -> None:
        super().__init__(downstream)
        self._key = key
        self._last: object = _NOTHING

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        try:
            current = value if self._key is None else self._key(value)
            if self._last is not _NOTHING and current == self._last:
                return
        except Exception as exc:
            await self._fail(exc)
            return
        self._last = current
        try:
            await self._down.asend(value)
        except Exception as exc:
            await self._fail(exc)


def distinct_until_changed(key: Callable[[_T], object] | None = None) -> Operator[_T, _T]:
    """Values that differ from the one before (compared with ``==``, or by ``key(value)``).

    ::

        source:                    -a-a-b-b-a-|
        distinct_until_changed():  -a---b---a-|

    For changes, ``distinct_until_changed(key=lambda c: c.value)`` drops
    sets that did not change the value. Unlike aioreactive's
    ``distinct_until_changed`` (applied directly), this one is called.
    """
    if key is not None and not callable(key):
        raise TypeError(f"distinct_until_changed(key): key must be callable, got {key!r}")

    return piped(lambda down: _Distinct(down, key))
