"""Operators over several streams: merge, flat_map, combine_latest, group_by_key.

Values from several sources reach the downstream observer one at a time,
in arrival order (each source's own order is kept), through a
:class:`~pepperflow.streams._serial.Serializer`: a source's ``asend`` returns
once the downstream observer took its value (backpressure), and a source
that sends while another one is being delivered waits for its turn. No tasks, no
buffer. The first error from any source (or from a user function) ends the stream:
every source is unsubscribed, then the error goes to ``athrow``; disposing unsubscribes all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import attrgetter
from typing import Any, Generic, TypeVar

from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from ._core import Observable, Operator, Sink, close_to, piped, throw_to
from ._serial import Serializer
from .subjects import Subject

__all__ = ["GroupedObservable", "combine_latest", "flat_map", "group_by_key", "merge"]

_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)
_Out = TypeVar("_Out")


class _Input(AsyncObserver[Any]):
    """One source of a junction; its calls go through the junction's serializer."""

    __slots__ = ("_index", "_junction", "ended")

    def __init__(self, junction: _Junction[Any], index: int) -> None:
        self._junction = junction
        self._index = index
        self.ended = False

    async def asend(self, value: Any) -> None:
        if not self.ended and not self._junction.done:
            await self._junction.gate.run(self._junction.on_value, (self._index, value))

    async def athrow(self, error: Exception) -> None:
        if not self.ended:
            self.ended = True
            await self._junction.gate.run(self._junction.fail, error)

    async def aclose(self) -> None:
        if not self.ended:
            self.ended = True
            await self._junction.gate.run(self._junction.on_end, self._index)


class _Junction(AsyncDisposable, Generic[_Out]):
    """Several subscriptions feeding one downstream observer, one value at a time."""

    def __init__(self, downstream: AsyncObserver[_Out]) -> None:
        self.down = downstream
        self.gate = Serializer()
        self.done = False
        self._subs: dict[int, AsyncDisposable] = {}

    async def add(self, index: int, source: AsyncObservable[Any]) -> None:
        """Subscribe ``source`` as input ``index``."""
        sub = await source.subscribe_async(_Input(self, index))
        if self.done:
            await sub.dispose_async()
        else:
            self._subs[index] = sub

    async def on_value(self, item: tuple[int, Any]) -> None:
        raise NotImplementedError

    async def on_end(self, index: int) -> None:
        raise NotImplementedError

    async def send(self, value: _Out) -> None:
        if self.done:
            return
        try:
            await self.down.asend(value)
        except Exception as exc:
            await self.fail(exc)

    async def fail(self, error: Exception) -> None:
        if not self.done:
            await self.dispose_async()
            await throw_to(self.down, error)

    async def finish(self) -> None:
        if not self.done:
            await self.dispose_async()
            await close_to(self.down)

    async def forget(self, index: int) -> None:
        """Input ``index`` ended: drop its subscription."""
        sub = self._subs.pop(index, None)
        if sub is not None:
            await sub.dispose_async()

    async def dispose_async(self) -> None:
        self.done = True
        subs = list(self._subs.values())
        self._subs.clear()
        for sub in subs:
            await sub.dispose_async()


class _Merge(_Junction[_T]):
    def __init__(self, downstream: AsyncObserver[_T], count: int) -> None:
        super().__init__(downstream)
        self._open = count

    async def on_value(self, item: tuple[int, Any]) -> None:
        await self.send(item[1])

    async def on_end(self, index: int) -> None:
        await self.forget(index)
        self._open -= 1
        if self._open == 0:
            await self.finish()


class _Sources(Observable[_Out]):
    """An observable over several sources, each subscription a new junction."""

    def __init__(
        self,
        sources: tuple[AsyncObservable[Any], ...],
        make: Callable[[AsyncObserver[_Out]], _Junction[_Out]],
    ) -> None:
        self._sources = sources
        self._make = make

    async def _subscribe(self, observer: AsyncObserver[_Out]) -> AsyncDisposable:
        junction = self._make(observer)
        try:
            for index, source in enumerate(self._sources):
                if junction.done:
                    break
                await junction.add(index, source)
        except BaseException:
            await junction.dispose_async()
            raise
        return junction


def _check_sources(name: str, others: tuple[object, ...]) -> None:
    for other in others:
        if not isinstance(other, AsyncObservable):
            raise TypeError(f"{name}: every source must be an AsyncObservable, got {other!r}")


def merge(*others: AsyncObservable[_T]) -> Operator[_T, _T]:
    """The values of the source and of ``others``, as they arrive.

    ::

        source:     -a---b---|
        other:      --x---y-----|
        merge(other):
                    -ax--by-----|

    Ends when every source ended; fails at the first error.
    """
    _check_sources("merge", others)

    def _merge(source: AsyncObservable[_T]) -> AsyncObservable[_T]:
        sources = (source, *others)
        return _Sources(sources, lambda down: _Merge(down, len(sources)))

    return _merge


class _Combine(_Junction[tuple[Any, ...]]):
    def __init__(self, downstream: AsyncObserver[tuple[Any, ...]], count: int) -> None:
        super().__init__(downstream)
        self._values: list[Any] = [None] * count
        self._has = [False] * count
        self._missing = count
        self._open = count

    async def on_value(self, item: tuple[int, Any]) -> None:
        index, value = item
        self._values[index] = value
        if not self._has[index]:
            self._has[index] = True
            self._missing -= 1
        if self._missing == 0:
            await self.send(tuple(self._values))

    async def on_end(self, index: int) -> None:
        await self.forget(index)
        self._open -= 1
        if self._open == 0 or not self._has[index]:
            await self.finish()  # all ended, or one ended without a value: nothing more to emit


def combine_latest(*others: AsyncObservable[Any]) -> Operator[Any, tuple[Any, ...]]:
    """Tuples of the latest value of the source and of each of ``others``.

    A tuple is sent whenever any source sends, once every source has sent
    at least one value::

        source:     -a-----b-----|
        other:      --x-y---z-|
        combine_latest(other):
                    --A-B--CD----|      A=(a,x) B=(a,y) C=(b,y) D=(b,z)

    Ends when every source ended, or as soon as one ends without having
    sent anything; fails at the first error.
    """
    _check_sources("combine_latest", others)

    def _combine(source: AsyncObservable[Any]) -> AsyncObservable[tuple[Any, ...]]:
        sources = (source, *others)
        return _Sources(sources, lambda down: _Combine(down, len(sources)))

    return _combine


class _FlatMap(_Junction[_Out], Generic[_T, _Out]):
    """Input 0 is the outer source; each inner observable gets the next index."""

    def __init__(
        self, downstream: AsyncObserver[_Out], mapper: Callable[[_T], AsyncObservable[_Out]]
    ) -> None:
        super().__init__(downstream)
        self._mapper = mapper
        self._next = 1
        self._open = 1

    async def on_value(self, item: tuple[int, Any]) -> None:
        index, value = item
        if index:
            await self.send(value)

    async def outer_value(self, value: _T) -> None:
        """A value of the outer source: subscribe to its inner observable."""
        try:
            inner = self._mapper(value)
            if not isinstance(inner, AsyncObservable):
                raise TypeError(
                    f"flat_map: the mapper must return an AsyncObservable, got {inner!r}"
                )
        except Exception as exc:
            await self.gate.run(self.fail, exc)
            return
        index, self._next = self._next, self._next + 1
        self._open += 1
        await self.add(index, inner)

    async def on_end(self, index: int) -> None:
        await self.forget(index)
        self._open -= 1
        if self._open == 0:
            await self.finish()


class _Outer(_Input):
    """The outer source of flat_map: values are mapped, not delivered."""

    __slots__ = ()

    async def asend(self, value: Any) -> None:
        junction = self._junction
        if not self.ended and not junction.done:
            assert isinstance(junction, _FlatMap)
            await junction.outer_value(value)


class _FlatMapped(Observable[_Out], Generic[_T, _Out]):
    def __init__(
        self, source: AsyncObservable[_T], mapper: Callable[[_T], AsyncObservable[_Out]]
    ) -> None:
        self._source = source
        self._mapper = mapper

    async def _subscribe(self, observer: AsyncObserver[_Out]) -> AsyncDisposable:
        junction: _FlatMap[_T, _Out] = _FlatMap(observer, self._mapper)
        try:
            sub = await self._source.subscribe_async(_Outer(junction, 0))
        except BaseException:
            await junction.dispose_async()
            raise
        if junction.done:
            await sub.dispose_async()
        else:
            junction._subs[0] = sub
        return junction


def flat_map(mapper: Callable[[_T], AsyncObservable[_Out]]) -> Operator[_T, _Out]:
    """The values of the observables ``mapper(value)`` returns, merged.

    ::

        source:       -a-------b-------|
        mapper(a):     -1-2|
        mapper(b):             -3-4|
        flat_map(mapper):
                      --1-2-----3-4----|

    Each inner observable is subscribed in the source's ``asend`` (so the
    source waits for the subscription, not for the inner values). Ends
    when the source and every inner observable ended; fails at the first
    error, from any of them or from ``mapper``.
    """
    if not callable(mapper):
        raise TypeError(f"flat_map(mapper): mapper must be callable, got {mapper!r}")

    def _flat_map(source: AsyncObservable[_T]) -> AsyncObservable[_Out]:
        return _FlatMapped(source, mapper)

    return _flat_map


class GroupedObservable(Subject[_T], Generic[_K, _T]):
    """The values of one key, from :func:`group_by_key`; ``.key`` is the key.

    It is hot: subscribe in the ``asend`` that receives it to get every
    value of the key (the key's first value is sent right after it).
    """

    def __init__(self, key: _K) -> None:
        super().__init__()
        self.key = key

    def __repr__(self) -> str:
        return f"<GroupedObservable key={self.key!r}>"


_change_key = attrgetter("key")


class _GroupBy(Sink[_T, GroupedObservable[Any, _T]]):
    def __init__(
        self,
        downstream: AsyncObserver[GroupedObservable[Any, _T]],
        key: Callable[[_T], Hashable],
    ) -> None:
        super().__init__(downstream)
        self._key = key
        self._groups: dict[Hashable, GroupedObservable[Any, _T]] = {}

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        try:
            key = self._key(value)
            group = self._groups.get(key)
        except Exception as exc:
            await self._on_error(exc)
            return
        if group is None:
            group = self._groups[key] = GroupedObservable(key)
            if not await self._send(group):
                return
        await group.asend(value)

    async def _on_error(self, error: Exception) -> None:
        for group in list(self._groups.values()):
            await group.athrow(error)
        await self._fail(error)

    async def _on_close(self) -> None:
        for group in list(self._groups.values()):
            await group.aclose()
        await self._finish()


def group_by_key(
    key: Callable[[_T], Hashable] | None = None,
) -> Operator[_T, GroupedObservable[Any, _T]]:
    """One :class:`GroupedObservable` per key, sent when its key first appears.

    ``key(value)`` gives a value's key; by default ``value.key`` (a change's
    key)::

        source:          -a-b-c-|        a, c: key 1; b: key 2
        group_by_key():  -A-B---|
            A (key 1):   -a---c-|
            B (key 2):   ---b---|

    The source waits until the group's subscribers took each value. When
    the source ends or fails, or ``key`` raises, every open group ends or
    fails with the same error, then the stream.
    A group lives until the source ends (one small object per key seen).
    Disposing the subscription stops the source; the groups then receive
    nothing more.
    """
    key_of: Callable[[_T], Hashable] = _change_key if key is None else key
    if not callable(key_of):
        raise TypeError(f"group_by_key(key): key must be callable, got {key!r}")

    return piped(lambda down: _GroupBy(down, key_of))
