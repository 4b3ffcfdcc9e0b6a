"""Between observables and async iterators: to_async_iterator, from_async_iterable.

::

    async with to_async_iterator(pipe(store.changes("user:"), rx.map(f))) as values:
        async for value in values:
            ...

    observable = from_async_iterable(agen(), task_group=tg)
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from types import TracebackType
from typing import Generic, TypeVar

import anyio
import anyio.abc
from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from ._core import Observable, close_to, throw_to
from ._worker import check_count, check_task_group

__all__ = ["ObservableIterator", "from_async_iterable", "to_async_iterator"]

_T = TypeVar("_T")


class ObservableIterator(AsyncObserver[_T], AsyncIterator[_T], Generic[_T]):
    """An async iterator over an observable; see :func:`to_async_iterator`."""

    def __init__(self, source: AsyncObservable[_T], buffer: int) -> None:
        self._source = source
        self._max = buffer
        self._buf: deque[_T] = deque()
        self._sub: AsyncDisposable | None = None
        self._entered = False
        self._ended = False  # the source ended (aclose or athrow)
        self._error: Exception | None = None
        self._closed = False  # the async with block exited
        self._reader: anyio.Event | None = None
        self._space: anyio.Event | None = None

    async def __aenter__(self) -> ObservableIterator[_T]:
        if self._entered:
            raise RuntimeError("to_async_iterator(...) can be entered once; call it again")
        self._entered = True
        self._sub = await self._source.subscribe_async(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        """Unsubscribe now; a producer waiting for buffer space is released."""
        self._closed = True
        self._buf.clear()
        self._wake(self._space)
        self._space = None
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.dispose_async()

    @staticmethod
    def _wake(event: anyio.Event | None) -> None:
        if event is not None:
            event.set()

    # -- the producer's side (the observer) ----------------------------------------

    async def asend(self, value: _T) -> None:
        if self._ended or self._closed:
            return
        self._buf.append(value)
        self._wake(self._reader)
        self._reader = None
        while len(self._buf) > self._max and not self._closed:
            if self._space is None:
                self._space = anyio.Event()
            await self._space.wait()

    async def athrow(self, error: Exception) -> None:
        if not self._ended:
            self._ended = True
            self._error = error
            self._wake(self._reader)
            self._reader = None

    async def aclose(self) -> None:
        if not self._ended:
            self._ended = True
            self._wake(self._reader)
            self._reader = None

    # -- the consumer's side ---------------------------------------------------------

    async def __anext__(self) -> _T:
        if not self._entered:
            raise RuntimeError(
                "enter it before iterating: `async with to_async_iterator(obs) as it:`"
            )
        while True:
            if self._buf:
                value = self._buf.popleft()
                self._wake(self._space)
                self._space = None
                return value
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended or self._closed:
                raise StopAsyncIteration
            self._reader = reader = anyio.Event()
            await reader.wait()


def to_async_iterator(source: AsyncObservable[_T], *, buffer: int = 0) -> ObservableIterator[_T]:
    """Iterate over an observable's values with ``async with ... as it: async for``.

    ::

        source:     -a-b-c-|
        iterator:   yields a, b, c, then stops (an athrow is raised instead)

    Entering subscribes; exiting unsubscribes (a producer waiting on the
    consumer is released). Backpressure: with ``buffer=0`` a producer's
    ``asend`` returns once the consumer took the value; with ``buffer=n``
    the producer may run ``n`` values ahead. The end never waits for the
    consumer: ``aclose``/``athrow`` return at once and the consumer gets the
    buffered values, then the end (or the error).

    Raises:
        ValueError: ``buffer`` is not an int >= 0.
    """
    return ObservableIterator(source, check_count("to_async_iterator(buffer):", buffer, 0))


class _Iteration(AsyncDisposable, Generic[_T]):
    """One subscription to :func:`from_async_iterable`: a task iterating for one observer."""

    def __init__(self, observer: AsyncObserver[_T]) -> None:
        self._observer = observer
        self._scope = anyio.CancelScope()
        self._done = False

    async def run(self, iterable: AsyncIterable[_T]) -> None:
        with self._scope:
            iterator = aiter(iterable)
            try:
                await self._pump(iterator)
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()

    async def _pump(self, iterator: AsyncIterator[_T]) -> None:
        observer = self._observer
        while not self._done:
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                break
            except Exception as exc:
                if not self._done:
                    self._done = True
                    await throw_to(observer, exc)
                return
            if self._done:
                return
            try:
                await observer.asend(item)
            except Exception as exc:
                self._done = True
                await throw_to(observer, exc)
                return
        if not self._done:
            self._done = True
            await close_to(observer)

    async def dispose_async(self) -> None:
        self._done = True
        self._scope.cancel()


class _FromAsyncIterable(Observable[_T]):
    def __init__(self, iterable: AsyncIterable[_T], task_group: anyio.abc.TaskGroup) -> None:
        self._iterable = iterable
        self._task_group = task_group

    async def _subscribe(self, observer: AsyncObserver[_T]) -> AsyncDisposable:
        iteration = _Iteration(observer)
        self._task_group.start_soon(iteration.run, self._iterable, name="pepperflow iteration")
        return iteration


def from_async_iterable(
    iterable: AsyncIterable[_T], *, task_group: anyio.abc.TaskGroup
) -> AsyncObservable[_T]:
    """An observable of what ``iterable`` yields, pulled as fast as the observer takes it.

    ::

        iterable:   yields a, b, c
        observable: abc|

    Each subscription iterates ``aiter(iterable)`` in a task of
    ``task_group`` (so an iterator, unlike an iterable, is shared: a second
    subscription gets what is left), awaiting ``observer.asend`` before
    pulling the next item (backpressure). The end of the iteration is
    ``aclose``; an exception from it is ``athrow``. Disposing cancels the
    task and closes the iterator (``aclose()`` when it has one).

    Raises:
        TypeError: ``iterable`` is not async iterable, or ``task_group`` is not a task group.
    """
    if not isinstance(iterable, AsyncIterable):
        raise TypeError(f"from_async_iterable: expected an async iterable, got {iterable!r}")
    tg = check_task_group("from_async_iterable", task_group)
    return _FromAsyncIterable(iterable, tg)
