"""The event loop as the connection's thread sees it: a thread-safe "call soon",
and a job's waiter woken directly (an asyncio future, or trio's
``reschedule`` of the waiting task). This is the only module that names
asyncio or trio (see :mod:`._thread`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio
import sniffio

__all__ = ["Job", "Loop", "current_loop"]

C = TypeVar("C")


class Job(Generic[C]):
    """One unit of work for the thread: ``fn(context)`` in a group or alone.

    The thread sets ``result`` or ``error``; the event loop then sets
    ``finished`` and wakes the task waiting in :meth:`OwnerThread.wait`.
    """

    __slots__ = ("after", "error", "finished", "fn", "grouped", "result", "waiter")

    def __init__(self, fn: Callable[[Any], Any], grouped: bool) -> None:
        self.fn = fn
        self.grouped = grouped
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        #: What wakes the waiting task (set by the loop's ``wait``), or None.
        self.waiter: Any = None
        #: Set by ``on_done`` when the caller must also wait for something after.
        self.after: Any = None

    def abort(self, raise_cancel: object) -> Any:
        """trio's abort function: the waiting task was cancelled; stop waking it."""
        import trio

        self.waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


class Loop(Protocol):
    """The running event loop, as the thread and the waiting tasks use it."""

    def call_soon(self, fn: Callable[..., object], *args: Any) -> object:
        """Run ``fn(*args)`` on the loop soon; callable from any thread."""
        ...

    async def wait(self, job: Job[Any]) -> None:
        """Return once ``job`` is finished (a checkpoint either way)."""
        ...

    def wake(self, job: Job[Any]) -> None:
        """On the loop: wake the task waiting for ``job``, if any."""
        ...

    def current_task(self) -> object:
        """On the loop: the running task."""
        ...


class _AsyncioLoop:
    def __init__(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        self.call_soon = loop.call_soon_threadsafe
        self._create_future = loop.create_future
        self.current_task = asyncio.current_task

    async def wait(self, job: Job[Any]) -> None:
        if job.finished:
            await anyio.lowlevel.checkpoint()
            return
        job.waiter = future = self._create_future()
        await future  # cancelling the task cancels the future: wake skips it

    @staticmethod
    def wake(job: Job[Any]) -> None:
        future = job.waiter
        if future is not None and not future.done():
            future.set_result(None)


class _TrioLoop:
    def __init__(self) -> None:
        import trio

        self.call_soon = trio.lowlevel.current_trio_token().run_sync_soon
        self.current_task = self._current_task = trio.lowlevel.current_task
        self._park = trio.lowlevel.wait_task_rescheduled
        self._reschedule = trio.lowlevel.reschedule

    async def wait(self, job: Job[Any]) -> None:
        if job.finished:
            await anyio.lowlevel.checkpoint()
            return
        job.waiter = self._current_task()
        await self._park(job.abort)

    def wake(self, job: Job[Any]) -> None:
        task = job.waiter
        if task is not None:
            job.waiter = None
            self._reschedule(task)


def current_loop() -> Loop:
    library = sniffio.current_async_library()
    if library == "asyncio":
        return _AsyncioLoop()
    if library == "trio":
        return _TrioLoop()
    raise RuntimeError(f"pepperflow runs on asyncio or trio, not on {library!r}")
