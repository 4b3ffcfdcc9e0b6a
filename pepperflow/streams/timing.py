"""Time operators: debounce, throttle, sample, delay.

Time is ``anyio.current_time()`` and waits are anyio's, so these run on
any backend, and on virtual time in tests
(:func:`pepperflow.testing.virtual_time_backend`). Except ``throttle``,
each takes ``task_group=``, the caller's anyio task group, and runs one
task in it per subscription (see :mod:`pepperflow.streams._worker`).

Buffers, declared: ``debounce`` and ``sample`` hold one value (a newer value
replaces it: that is their purpose), so the producer never waits;
``delay`` holds up to ``max_pending`` values, then the producer waits
(backpressure). ``throttle`` holds nothing: it sends in the producer's task.
A terminal is delivered after the value(s) held before it, never instead.

Marble diagrams: one tick per character, or per group of events in one
tick such as ``(d|)``; here one tick = 1 second.
"""

from __future__ import annotations

from collections import deque
from typing import Any, TypeVar

import anyio
import anyio.abc
from aioreactive import AsyncObserver

from ._core import Operator, Sink, piped
from ._worker import WorkerSink, check_count, check_seconds, check_task_group

__all__ = ["debounce", "delay", "sample", "throttle"]

_T = TypeVar("_T")


class _HoldsLatest(WorkerSink[_T, _T]):
    """Holds the latest value (a newer one replaces it) until its task sends it on time.

    ``_deadline`` is when the held value is due (debounce) or the next tick
    (sample); it starts ``seconds`` after the subscription.
    """

    def __init__(
        self, downstream: AsyncObserver[_T], task_group: anyio.abc.TaskGroup, seconds: float
    ) -> None:
        super().__init__(downstream, task_group)
        self._seconds = seconds
        self._value: Any = None
        self._has = False
        self._deadline = anyio.current_time() + seconds

    async def _send_held(self) -> bool:
        """Send the held value downstream and hold nothing; False once done."""
        value, self._value, self._has = self._value, None, False
        return await self._send(value)


def _holding_latest(
    operator: str, sink: type[_HoldsLatest[Any]], seconds: object, task_group: object
) -> Operator[_T, _T]:
    """``operator``'s arguments checked, and the operator piping into ``sink``.

    Raises:
        ValueError: ``seconds`` is not a positive finite number.
        TypeError: ``task_group`` is not an anyio task group.
    """
    span = check_seconds(operator, seconds)
    tg = check_task_group(operator, task_group)
    return piped(lambda down: sink(down, tg, span))


class _Debounce(_HoldsLatest[_T]):
    async def asend(self, value: _T) -> None:
        if self._done or self._terminal is not None:
            return
        self._value = value
        self._deadline = anyio.current_time() + self._seconds
        if not self._has:
            self._has = True
            self._notify()

    async def _run(self) -> None:
        while not self._done:
            if self._has and (self._terminal is not None or anyio.current_time() >= self._deadline):
                await self._send_held()
            elif self._terminal is not None:
                await self._deliver_terminal()
                return
            elif self._has:
                await self._wait_until(self._deadline)
            else:
                await self._wait()


def debounce(seconds: float, *, task_group: anyio.abc.TaskGroup) -> Operator[_T, _T]:
    """A value once ``seconds`` passed without a newer one (the last of each burst).

    ::

        source:          -ab-----cd|
        debounce(2):     ----b-----(d|)

    At the end, the value held is sent at once, then the end.

    Raises:
        ValueError: ``seconds`` is not a positive finite number.
        TypeError: ``task_group`` is not an anyio task group.
    """
    return _holding_latest("debounce", _Debounce, seconds, task_group)


class _Throttle(Sink[_T, _T]):
    def __init__(self, downstream: AsyncObserver[_T], seconds: float) -> None:
        super().__init__(downstream)
        self._seconds = seconds
        self._until = -float("inf")

    async def asend(self, value: _T) -> None:
        if self._done:
            return
        now = anyio.current_time()
        if now < self._until:
            return
        self._until = now + self._seconds
        await self._send(value)


def throttle(seconds: float) -> Operator[_T, _T]:
    """A value, then nothing for ``seconds`` (the first of each window; no task).

    ::

        source:          -abc---d-e--f-|
        throttle(3):     -a-----d----f-|

    The window starts when a value is sent; values inside it are dropped.
    Sending happens in the producer's task, so the producer waits for the
    observer.

    Raises:
        ValueError: ``seconds`` is not a positive finite number.
    """
    span = check_seconds("throttle", seconds)
    return piped(lambda down: _Throttle(down, span))


class _Sample(_HoldsLatest[_T]):
    async def asend(self, value: _T) -> None:
        if not self._done and self._terminal is None:
            self._value = value
            self._has = True

    async def _run(self) -> None:
        while not self._done:
            if self._terminal is not None:
                if self._has and not await self._send_held():
                    return
                await self._deliver_terminal()
                return
            now = anyio.current_time()
            if now < self._deadline:
                await self._wait_until(self._deadline)
                continue
            while self._deadline <= now:
                self._deadline += self._seconds
            if self._has:
                await self._send_held()


def sample(seconds: float, *, task_group: anyio.abc.TaskGroup) -> Operator[_T, _T]:
    """Every ``seconds``, the latest value received since the last tick, if any.

    ::

        source:       -ab--c-----d|
        sample(3):    ---b--c-----(d|)

    Ticks are counted from the subscription. At the end, a value received
    since the last tick is sent at once, then the end. A tick that comes
    while the observer is still busy with the previous one is skipped.

    Raises:
        ValueError: ``seconds`` is not a positive finite number.
        TypeError: ``task_group`` is not an anyio task group.
    """
    return _holding_latest("sample", _Sample, seconds, task_group)


class _Delay(WorkerSink[_T, _T]):
    def __init__(
        self,
        downstream: AsyncObserver[_T],
        task_group: anyio.abc.TaskGroup,
        seconds: float,
        max_pending: int,
    ) -> None:
        super().__init__(downstream, task_group)
        self._seconds = seconds
        self._max = max_pending
        self._queue: deque[tuple[float, Any]] = deque()
        self._terminal_due = 0.0

    async def asend(self, value: _T) -> None:
        while len(self._queue) >= self._max and not self._done:
            await self._wait_for_space()
        if self._done or self._terminal is not None:
            return
        self._queue.append((anyio.current_time() + self._seconds, value))
        if len(self._queue) == 1:
            self._notify()

    async def _hand_terminal(self, terminal: tuple[str, Any]) -> None:
        if self._terminal is None:
            self._terminal_due = anyio.current_time() + self._seconds
        await super()._hand_terminal(terminal)

    async def _run(self) -> None:
        queue = self._queue
        while not self._done:
            if queue:
                due, value = queue[0]
                if anyio.current_time() < due:
                    await anyio.sleep_until(due)
                queue.popleft()
                self._release_space()
                await self._send(value)
            elif self._terminal is not None:
                await anyio.sleep_until(self._terminal_due)
                await self._deliver_terminal()
                return
            else:
                await self._wait()


def delay(
    seconds: float, *, task_group: anyio.abc.TaskGroup, max_pending: int = 1024
) -> Operator[_T, _T]:
    """Every value and the end, ``seconds`` later, spacing kept.

    ::

        source:       -a-b----c-|
        delay(2):     ---a-b----c-|

    An error is delayed like a value (so the values before it arrive
    first). At most ``max_pending`` values wait at a time; then the
    producer waits (backpressure). Each subscription has its own state, so
    the same delayed observable can be subscribed any number of times.

    Raises:
        ValueError: bad ``seconds`` or ``max_pending`` (an int >= 1).
        TypeError: ``task_group`` is not an anyio task group.
    """
    span = check_seconds("delay", seconds)
    tg = check_task_group("delay", task_group)
    most = check_count("delay(max_pending):", max_pending)
    return piped(lambda down: _Delay(down, tg, span, most))
