"""A thread that owns one resource (a sqlite3 connection) and runs jobs on it.

Jobs are queued from the event loop and run in order on the thread.
Consecutive write jobs are run as one group (one transaction: group commit),
so writers that arrive while a commit is in progress share the next one.
Results go back to the event loop without blocking the thread, through the
running backend's thread-safe "call soon" (asyncio's
``loop.call_soon_threadsafe``, trio's ``TrioToken.run_sync_soon``): one
wake-up of the loop per group, not one per job. This is the only module
that names asyncio or trio.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import sniffio

__all__ = ["Job", "OwnerThread", "loop_caller"]

R = TypeVar("R")
C = TypeVar("C")


def loop_caller() -> Callable[[Callable[[], object]], object]:
    """A function any thread may call to run a callable on the current event loop."""
    library = sniffio.current_async_library()
    if library == "asyncio":
        import asyncio

        return asyncio.get_running_loop().call_soon_threadsafe
    if library == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    raise RuntimeError(f"pepperflow runs on asyncio or trio, not on {library!r}")


class Job(Generic[C]):
    """One unit of work for the thread: ``fn(context)`` in a group or alone."""

    __slots__ = ("after", "done", "error", "fn", "grouped", "result")

    def __init__(self, fn: Callable[[Any], Any], grouped: bool) -> None:
        self.fn = fn
        self.grouped = grouped
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()
        #: Set by ``on_done`` when the caller must also wait for something after.
        self.after: anyio.Event | None = None


class OwnerThread(Generic[C]):
    """Runs jobs on one thread; see the module docstring.

    Args:
        open: called on the thread first; returns the context jobs get.
        run_group: runs a list of grouped jobs (setting each job's result or
            error) and returns a value handed to ``on_done`` with them.
        close: called on the thread last, with the context.
        on_done: called on the event loop with each finished batch of jobs
            and the group's value (``None`` for a lone job).
        name: the thread's name.
    """

    def __init__(
        self,
        open: Callable[[], C],
        run_group: Callable[[C, list[Job[C]]], Any],
        close: Callable[[C], None],
        on_done: Callable[[list[Job[C]], Any], None],
        name: str,
    ) -> None:
        self._open = open
        self._run_group = run_group
        self._close = close
        self._on_done = on_done
        self._name = name
        self._queue: queue.SimpleQueue[Job[C] | None] = queue.SimpleQueue()
        self._call_soon: Callable[[Callable[[], object]], object] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = anyio.Event()
        self._open_error: BaseException | None = None

    async def start(self) -> None:
        """Start the thread and wait until ``open`` has run (re-raising its error)."""
        self._call_soon = loop_caller()
        opened = anyio.Event()
        self._thread = threading.Thread(target=self._main, args=(opened,), name=self._name)
        self._thread.daemon = True
        self._thread.start()
        await opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def submit(self, fn: Callable[[Any], Any], *, grouped: bool) -> Job[C]:
        """Queue ``fn``; await ``job.done`` then read ``job.result`` / ``job.error``.

        A lone job gets the context; a grouped one whatever ``run_group``
        gives its jobs.
        """
        job: Job[C] = Job(fn, grouped)
        self._queue.put(job)
        return job

    async def run(self, fn: Callable[[C], R], *, grouped: bool = False) -> R:
        """Run ``fn(context)`` on the thread and return its result (or raise its error)."""
        job = self.submit(fn, grouped=grouped)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    async def stop(self) -> None:
        """Run the queued jobs, then ``close``, and end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        with anyio.CancelScope(shield=True):
            await self._stopped.wait()
        self._thread = None

    # -- on the thread ---------------------------------------------------------

    def _post(self, fn: Callable[[], object]) -> None:
        assert self._call_soon is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            self._call_soon(fn)

    def _main(self, opened: anyio.Event) -> None:
        try:
            context = self._open()
        except BaseException as exc:
            self._open_error = exc
            self._post(opened.set)
            self._post(self._stopped.set)
            return
        self._post(opened.set)
        try:
            self._serve(context)
        finally:
            try:
                self._close(context)
            finally:
                self._post(self._stopped.set)

    def _serve(self, context: C) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            first = get()
            if first is None:
                break
            batch = [first]
            while True:
                try:
                    job = get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            start = 0
            while start < len(batch):
                end = start + 1
                if batch[start].grouped:
                    while end < len(batch) and batch[end].grouped:
                        end += 1
                    group = batch[start:end]
                    try:
                        value = self._run_group(context, group)
                    except BaseException as exc:
                        for job in group:
                            job.error = job.error or exc
                        value = None
                    self._post(_finisher(self._on_done, group, value))
                else:
                    job = batch[start]
                    try:
                        job.result = job.fn(context)
                    except BaseException as exc:
                        job.error = exc
                    self._post(_finisher(self._on_done, [job], None))
                start = end


def _finisher(
    on_done: Callable[[list[Job[Any]], Any], None], jobs: list[Job[Any]], value: Any
) -> Callable[[], None]:
    def finish() -> None:
        try:
            on_done(jobs, value)
        finally:
            for job in jobs:
                job.done.set()

    return finish
