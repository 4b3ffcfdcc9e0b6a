"""The base of the operators that run a task: time operators and buffers.

Such an operator takes the caller's ``task_group`` and starts one task in
it per subscription (never one per value), so nothing it does outlives the
task group the caller owns. Disposing the subscription cancels that task
(without waiting for it). The task also ends once it delivered the
terminal.

A producer's ``aclose``/``athrow`` hands the terminal to the task and
waits until it went downstream after the values held before it, so when
``await source.aclose()`` returns, the observer has received everything.
"""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import anyio.abc
from aioreactive import AsyncObservable, AsyncObserver

from .._durations import seconds as _seconds
from ._core import Sink

__all__ = ["WorkerSink", "check_count", "check_seconds", "check_task_group"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def check_seconds(operator: str, seconds: object, name: str = "seconds") -> float:
    """``seconds`` (a number or timedelta) in seconds, or InvalidDuration naming the operator."""
    return _seconds(seconds, f"{operator}({name}): {name}")


def check_count(what: str, count: object, minimum: int = 1) -> int:
    """``count`` as an int >= ``minimum``, or a ValueError opening with ``what``.

    ``what`` names the argument as the message should, e.g.
    ``"delay(max_pending):"`` gives ``delay(max_pending): must be an int >= 1,
    got 0``. A bool is not a count.
    """
    if type(count) is not int or count < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {count!r}")
    return count


def check_task_group(operator: str, task_group: object) -> anyio.abc.TaskGroup:
    """``task_group`` if it is one, else a TypeError that says what to pass."""
    if not isinstance(task_group, anyio.abc.TaskGroup):
        raise TypeError(
            f"{operator}: task_group= must be the anyio task group that will own the"
            " operator's task (async with anyio.create_task_group() as tg: ...),"
            f" got {task_group!r}"
        )
    return task_group


class WorkerSink(Sink[_In, _Out]):
    """A sink with one task in the caller's task group; subclasses implement :meth:`_run`.

    ``_terminal`` holds the upstream's terminal until the task delivers it
    (``("close", None)`` or ``("error", exc)``); :meth:`_notify` wakes the
    task when it waits in :meth:`_wait`.
    """

    def __init__(self, downstream: AsyncObserver[_Out], task_group: anyio.abc.TaskGroup) -> None:
        super().__init__(downstream)
        self._task_group = task_group
        self._scope = anyio.CancelScope()
        self._wake: anyio.Event | None = None
        self._space: anyio.Event | None = None
        self._terminal: tuple[str, Exception | None] | None = None
        self._ended = anyio.Event()  # set when the task is over

    async def attach(self, source: AsyncObservable[_In]) -> Sink[_In, _Out]:
        self._task_group.start_soon(self._main, name=f"pepperflow {type(self).__name__}")
        return await super().attach(source)

    async def _main(self) -> None:
        try:
            with self._scope:
                await self._run()
        finally:
            self._done = True
            self._ended.set()
            self._release_space()

    async def _run(self) -> None:
        """Deliver until the terminal went downstream or the sink is done."""
        raise NotImplementedError

    # -- waking and waiting ------------------------------------------------------

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def _wait(self) -> None:
        """Wait for :meth:`_notify` (the caller re-checks its state after)."""
        self._wake = wake = anyio.Event()
        await wake.wait()

    async def _wait_until(self, deadline: float) -> None:
        """Wait for :meth:`_notify` or ``deadline`` (``anyio.current_time()``)."""
        with anyio.CancelScope(deadline=deadline):
            await self._wait()

    async def _wait_for_space(self) -> None:
        """A producer waits for :meth:`_release_space` (the buffer is full)."""
        if self._space is None:
            self._space = anyio.Event()
        await self._space.wait()

    def _release_space(self) -> None:
        space = self._space
        if space is not None:
            self._space = None
            space.set()

    # -- terminals -----------------------------------------------------------------

    async def _on_error(self, error: Exception) -> None:
        await self._hand_terminal(("error", error))

    async def _on_close(self) -> None:
        await self._hand_terminal(("close", None))

    async def _hand_terminal(self, terminal: tuple[str, Any]) -> None:
        if self._terminal is None:
            self._terminal = terminal
            self._notify()
        await self._ended.wait()

    async def _deliver_terminal(self) -> None:
        """Send the held terminal downstream (the task calls this last)."""
        terminal = self._terminal
        assert terminal is not None
        if terminal[1] is not None:
            await self._fail(terminal[1])
        else:
            await self._finish()

    def _on_dispose(self) -> None:
        self._scope.cancel()
        self._release_space()
