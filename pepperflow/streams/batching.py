"""Operators that group values: buffer, window, latest_per_key.

``buffer`` and ``window`` cut the stream into batches by count, by time,
or by whichever comes first. A batch starts with its first value (there
are no empty batches) and, with ``seconds``, ends ``seconds`` after it.
With ``count`` only they need no task; with ``seconds`` they take the
caller's ``task_group=`` and run one task there per subscription.

Buffers, declared: a ``buffer`` holds the batch being filled (at most
``count`` values); while a batch is being delivered, the producer waits
(backpressure), so at most one batch is in flight and one is filling.
``latest_per_key`` holds the newest pending value of at most ``max_keys``
keys; a newer value of a pending key replaces it (conflation, the producer
does not wait); a new key when ``max_keys`` are pending makes the producer
wait. When the source ends or fails, what is held goes first, then the
terminal.

Marble diagrams: one tick per character, or per group of events in one
tick such as ``(d|)``; here one tick = 1 second.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import attrgetter
from typing import TypeVar

import anyio
import anyio.abc
from aioreactive import AsyncObservable, AsyncObserver

from ._core import Operator, Sink, piped
from ._worker import WorkerSink, check_count, check_seconds, check_task_group
from .subjects import Subject

__all__ = ["buffer", "latest_per_key", "window"]

_T = TypeVar("_T")


def _batch_options(
    name: str, count: object, seconds: object, task_group: object
) -> tuple[int | None, float | None, anyio.abc.TaskGroup | None]:
    if count is None and seconds is None:
        raise ValueError(f"{name}: pass count=, seconds=, or both (whichever comes first)")
    size = None if count is None else check_count(f"{name}(count): count", count)
    if seconds is None:
        return size, None, None
    span = check_seconds(name, seconds)
    if task_group is None:
        raise TypeError(
            f"{name}(seconds=...) runs a timer: pass task_group=, the anyio task group"
            " that will own it"
        )
    return size, span, check_task_group(name, task_group)


class _CountBuffer(Sink[_T, list[_T]]):
    def __init__(self, downstream: AsyncObserver[list[_T]], count: int) -> None:
        super().__init__(downstream)
        self._count = count
        self._batch: list[_T] = []

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        self._batch.append(value)
        if len(self._batch) >= self._count:
            batch, self._batch = self._batch, []
            await self._send(batch)

    async def _on_error(self, error: Exception) -> None:
        if not self._batch or await self._flush():
            await self._fail(error)

    async def _on_close(self) -> None:
        if not self._batch or await self._flush():
            await self._finish()

    async def _flush(self) -> bool:
        batch, self._batch = self._batch, []
        return await self._send(batch)


class _TimedBuffer(WorkerSink[_T, list[_T]]):
    """Batches by time (and count): the producer and the timer task take turns delivering."""

    def __init__(
        self,
        downstream: AsyncObserver[list[_T]],
        task_group: anyio.abc.TaskGroup,
        count: int | None,
        seconds: float,
    ) -> None:
        super().__init__(downstream, task_group)
        self._count = count
        self._seconds = seconds
        self._batch: list[_T] = []
        self._deadline = 0.0
        self._delivering = False  # a batch is going downstream: the other side waits
        self._turn: anyio.Event | None = None

    async def _wait_turn(self) -> None:
        while self._delivering:
            if self._turn is None:
                self._turn = anyio.Event()
            await self._turn.wait()

    async def _deliver(self, then_finish: Exception | bool | None = None) -> None:
        """Send the batch (if any), then the terminal if asked; the caller waited its turn."""
        self._delivering = True
        try:
            if self._batch:
                batch, self._batch = self._batch, []
                if not await self._send(batch):
                    return
            if isinstance(then_finish, Exception):
                await self._fail(then_finish)
            elif then_finish:
                await self._finish()
        finally:
            self._delivering = False
            turn, self._turn = self._turn, None
            if turn is not None:
                turn.set()

    async def asend(self, value: _T) -> None:
        if self._delivering:
            await self._wait_turn()
        if self._done:
            return
        batch = self._batch
        batch.append(value)
        if len(batch) == 1:
            self._deadline = anyio.current_time() + self._seconds
            self._notify()
        if self._count is not None and len(batch) >= self._count:
            await self._deliver()

    async def _run(self) -> None:
        while not self._done:
            if not self._batch:
                await self._wait()
                continue
            deadline = self._deadline
            if anyio.current_time() < deadline:
                await anyio.sleep_until(deadline)
            await self._wait_turn()
            if self._batch and self._deadline <= anyio.current_time() and not self._done:
                await self._deliver()

    async def _on_error(self, error: Exception) -> None:
        await self._wait_turn()
        await self._deliver(then_finish=error)
        self._scope.cancel()

    async def _on_close(self) -> None:
        await self._wait_turn()
        await self._deliver(then_finish=True)
        self._scope.cancel()


def buffer(
    count: int | None = None,
    seconds: float | None = None,
    *,
    task_group: anyio.abc.TaskGroup | None = None,
) -> Operator[_T, list[_T]]:
    """Lists of values: ``count`` values, or what came within ``seconds``, whichever first.

    ::

        source:             -a-b-c-d-e-|
        buffer(2):          ---A---B---(C|)       A=[a,b] B=[c,d] C=[e]

        source:             -ab------c-|
        buffer(seconds=3):  ----A------(B|)       A=[a,b] B=[c]

    A batch starts with its first value; with ``seconds`` it is sent
    ``seconds`` after that value at the latest. At the end (or on an
    error) the partial batch is sent first. Batches are sent in the
    producer's task when ``count`` is reached, in the operator's task when
    time is up; the producer waits while a batch is being delivered.

    Raises:
        ValueError: neither ``count`` nor ``seconds``, or a bad one.
        TypeError: ``seconds`` without an anyio ``task_group``.
    """
    size, span, tg = _batch_options("buffer", count, seconds, task_group)

    if span is None:
        assert size is not None
        return piped(lambda down: _CountBuffer(down, size))
    assert tg is not None
    return piped(lambda down: _TimedBuffer(down, tg, size, span))


class _Window(WorkerSink[_T, AsyncObservable[_T]]):
    """Windows by count and/or time; without ``seconds`` the task only waits."""

    def __init__(
        self,
        downstream: AsyncObserver[AsyncObservable[_T]],
        task_group: anyio.abc.TaskGroup | None,
        count: int | None,
        seconds: float | None,
    ) -> None:
        super().__init__(downstream, task_group)  # type: ignore[arg-type]
        self._count = count
        self._seconds = seconds
        self._window: Subject[_T] | None = None
        self._size = 0
        self._deadline = 0.0
        self._lock = anyio.Lock(fast_acquire=True)

    async def attach(self, source: AsyncObservable[_T]) -> Sink[_T, AsyncObservable[_T]]:
        if self._seconds is None:  # no timer: no task
            return await Sink.attach(self, source)
        return await super().attach(source)

    async def asend(self, value: _T) -> None:
        async with self._lock:
            if self._done:
                return
            window = self._window
            if window is None:
                window = self._window = Subject()
                self._size = 0
                if self._seconds is not None:
                    self._deadline = anyio.current_time() + self._seconds
                    self._notify()
                if not await self._send(window):
                    return
            self._size += 1
            await window.asend(value)
            if self._count is not None and self._size >= self._count:
                self._window = None
                await window.aclose()

    async def _run(self) -> None:
        while not self._done:
            if self._window is None:
                await self._wait()
                continue
            deadline = self._deadline
            if anyio.current_time() < deadline:
                await anyio.sleep_until(deadline)
            async with self._lock:
                window = self._window
                if window is not None and self._deadline <= anyio.current_time():
                    self._window = None
                    await window.aclose()

    async def _on_error(self, error: Exception) -> None:
        async with self._lock:
            window, self._window = self._window, None
            if window is not None:
                await window.athrow(error)
            await self._fail(error)
        self._scope.cancel()

    async def _on_close(self) -> None:
        async with self._lock:
            window, self._window = self._window, None
            if window is not None:
                await window.aclose()
            await self._finish()
        self._scope.cancel()


def window(
    count: int | None = None,
    seconds: float | None = None,
    *,
    task_group: anyio.abc.TaskGroup | None = None,
) -> Operator[_T, AsyncObservable[_T]]:
    """Like :func:`buffer`, but each batch is an observable sent when it opens.

    ::

        source:       -a-b-c-d-e-|
        window(2):    -W---X---Y-|
            W:        -a-(b|)
            X:        -----c-(d|)
            Y:        ---------e-|

    A window is a hot :class:`~pepperflow.streams.Subject`: subscribe to it
    in the ``asend`` that receives it to get all its values; the producer
    waits for the window's subscribers. A window ends when ``count``
    values went through it or ``seconds`` after its first value; at the
    end (or on an error) the open window ends (or fails) first.

    Raises:
        ValueError: neither ``count`` nor ``seconds``, or a bad one.
        TypeError: ``seconds`` without an anyio ``task_group``.
    """
    size, span, tg = _batch_options("window", count, seconds, task_group)
    return piped(lambda down: _Window(down, tg, size, span))


_change_key = attrgetter("key")


class _LatestPerKey(WorkerSink[_T, _T]):
    def __init__(
        self,
        downstream: AsyncObserver[_T],
        task_group: anyio.abc.TaskGroup,
        key: Callable[[_T], Hashable],
        max_keys: int,
    ) -> None:
        super().__init__(downstream, task_group)
        self._key = key
        self._max = max_keys
        self._pending: dict[Hashable, _T] = {}
        self.conflated = 0

    async def asend(self, value: _T) -> None:
        if self._done or self._terminal is not None:
            return
        try:
            key = self._key(value)
            pending = self._pending
            if key in pending:
                del pending[key]
                pending[key] = value
                self.conflated += 1
                return
        except Exception as exc:
            self._terminal = ("error", exc)
            self._notify()
            return
        while len(pending) >= self._max and not self._done:
            await self._wait_for_space()
        if self._done:
            return
        pending[key] = value
        if len(pending) == 1:
            self._notify()

    async def _run(self) -> None:
        pending = self._pending
        while not self._done:
            if pending:
                key = next(iter(pending))
                value = pending.pop(key)
                self._release_space()
                await self._send(value)
            elif self._terminal is not None:
                await self._deliver_terminal()
                return
            else:
                await self._wait()


def latest_per_key(
    key: Callable[[_T], Hashable] | None = None,
    *,
    task_group: anyio.abc.TaskGroup,
    max_keys: int = 1024,
) -> Operator[_T, _T]:
    """Conflate: the newest pending value of each key, as fast as the observer takes them.

    ``key(value)`` gives a value's key; by default ``value.key`` (a change's
    key). The producer does not wait for the observer: a value whose key
    is already pending replaces it (and moves it last); pending keys go out
    oldest first. When ``max_keys`` keys are pending, the producer waits.
    With values of one key and an observer taking 5 ticks per value::

        source:            -1-2-3-4-5-|
        latest_per_key():  -1----3----5----|

    Raises:
        ValueError: ``max_keys`` is not an int >= 1.
        TypeError: ``key`` is not callable, or ``task_group`` is not an anyio task group.
    """
    key_of: Callable[[_T], Hashable] = _change_key if key is None else key
    if not callable(key_of):
        raise TypeError(f"latest_per_key(key): key must be callable, got {key!r}")
    tg = check_task_group("latest_per_key", task_group)
    most = check_count("latest_per_key(max_keys):", max_keys)
    return piped(lambda down: _LatestPerKey(down, tg, key_of, most))
