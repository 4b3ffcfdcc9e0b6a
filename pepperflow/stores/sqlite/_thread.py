"""A thread that owns one resource (a sqlite3 connection) and runs jobs on it.

Jobs are queued from the event loop and run in order on the thread.
Consecutive write jobs are run as one group (one transaction: group commit),
so writers that arrive while a commit is in progress share the next one.
Results go back to the event loop without blocking the thread, through the
running backend's thread-safe "call soon" (asyncio's
``loop.call_soon_threadsafe``, trio's ``TrioToken.run_sync_soon``): one
wake-up of the loop per group, not one per job. That call sets each job's
waiter directly (an asyncio future, or trio's ``reschedule`` of the waiting
task), with no event object in between. This is the only module that names
asyncio or trio.

Groups and the event loop take turns: a group starts only once the group
before it is *settled* on the loop (when ``on_done`` returns True, or at
the :meth:`OwnerThread.settle` that follows a False). So the loop may fold
a group's outcome into state that the next group reads, and the two never
touch it at once, with no lock. Lone jobs do not wait for that turn (they
must not read such state).

Housekeeping (for SQLite: changelog compaction, and starting WAL
checkpoints, which run on a thread of their own) runs on the thread after
a batch's results were handed back, so no waiting writer pays for it, and
again once the queue has been empty for a while.
"""

from __future__ import annotations

import itertools
import logging
import operator
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio
import sniffio

__all__ = ["Job", "OwnerThread"]

logger = logging.getLogger("pepperflow")

R = TypeVar("R")
C = TypeVar("C")

_grouped = operator.attrgetter("grouped")


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


class _Loop(Protocol):
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


class _AsyncioLoop:
    def __init__(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        self.call_soon = loop.call_soon_threadsafe
        self._create_future = loop.create_future

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
        self._current_task = trio.lowlevel.current_task
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


def _current_loop() -> _Loop:
    library = sniffio.current_async_library()
    if library == "asyncio":
        return _AsyncioLoop()
    if library == "trio":
        return _TrioLoop()
    raise RuntimeError(f"pepperflow runs on asyncio or trio, not on {library!r}")


class OwnerThread(Generic[C]):
    """Runs jobs on one thread; see the module docstring.

    Args:
        open: called on the thread first; returns the context jobs get.
        run_group: runs a list of grouped jobs (setting each job's result or
            error) and returns a value handed to ``on_done`` with them.
        close: called on the thread last, with the context.
        on_done: called on the event loop with each finished batch of jobs
            and the group's value (``None`` for a lone job, or when
            ``run_group`` raised), before their waiters wake. It returns
            whether a group is settled; if not, the next group waits for
            :meth:`settle`.
        name: the thread's name.
        housekeep: called on the thread as ``housekeep(context, idle)`` after
            each batch's results were handed back (``idle=False``), and once
            the queue has then stayed empty ``housekeep_after`` seconds
            (``idle=True``); its errors are logged.
        housekeep_after: see ``housekeep``.
    """

    def __init__(
        self,
        open: Callable[[], C],
        run_group: Callable[[C, list[Job[C]]], Any],
        close: Callable[[C], None],
        on_done: Callable[[list[Job[C]], Any], bool],
        name: str,
        housekeep: Callable[[C, bool], None] | None = None,
        housekeep_after: float = 0.005,
    ) -> None:
        self._open = open
        self._run_group = run_group
        self._close = close
        self._on_done = on_done
        self._name = name
        self._housekeep = housekeep
        self._housekeep_after = housekeep_after
        self._queue: queue.SimpleQueue[Job[C] | None] = queue.SimpleQueue()
        self._loop: _Loop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = anyio.Event()
        self._open_error: BaseException | None = None
        # Held from the start of a group until the loop settles it: the next
        # group's acquire waits for that (a lock, released by the other thread).
        self._turn = threading.Lock()

    async def start(self) -> None:
        """Start the thread and wait until ``open`` has run (re-raising its error,
        once the thread is gone)."""
        self._loop = _current_loop()
        opened = anyio.Event()
        self._thread = threading.Thread(target=self._main, args=(opened,), name=self._name)
        self._thread.daemon = True
        self._thread.start()
        await opened.wait()
        if self._open_error is not None:
            self._thread.join()  # it ends once `open` failed
            self._thread = None
            raise self._open_error

    def submit(self, fn: Callable[[Any], Any], *, grouped: bool) -> Job[C]:
        """Queue ``fn``; ``await wait(job)``, then read ``job.result`` / ``job.error``.

        A lone job gets the context; a grouped one whatever ``run_group``
        gives its jobs.
        """
        job: Job[C] = Job(fn, grouped)
        self._queue.put(job)
        return job

    async def wait(self, job: Job[C]) -> None:
        """Return once ``job`` has run and ``on_done`` has seen it.

        Cancelling the caller stops the waiting only: the job still runs.
        """
        assert self._loop is not None
        await self._loop.wait(job)

    async def run(self, fn: Callable[[C], R], *, grouped: bool = False) -> R:
        """Run ``fn(context)`` on the thread and return its result (or raise its error)."""
        job = self.submit(fn, grouped=grouped)
        await self.wait(job)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def settle(self) -> None:
        """On the loop: the last group is taken in; the next may start.

        Call it once per group whose ``on_done`` returned False."""
        self._turn.release()

    async def stop(self) -> None:
        """Run the queued jobs, then ``close``, and end the thread (gone on return)."""
        if self._thread is None:
            return
        self._queue.put(None)
        with anyio.CancelScope(shield=True):
            await self._stopped.wait()
        self._thread.join()  # it has only to return: set `_stopped` was its last step
        self._thread = None

    # -- on the event loop -----------------------------------------------------

    def _finish(self, jobs: list[Job[C]], value: Any, group: bool) -> None:
        settled = True  # if on_done raises, the thread must not wait forever
        try:
            settled = self._on_done(jobs, value)
        finally:
            if group and settled:
                self._turn.release()
            assert self._loop is not None
            wake = self._loop.wake
            for job in jobs:
                job.finished = True
                wake(job)

    # -- on the thread ---------------------------------------------------------

    def _post(self, fn: Callable[..., object], *args: Any) -> bool:
        """Have the loop run ``fn(*args)``; False if the loop is gone (nobody waits)."""
        assert self._loop is not None
        try:
            self._loop.call_soon(fn, *args)
        except RuntimeError:
            return False
        return True

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

    def _tidy(self, context: C, idle: bool) -> None:
        assert self._housekeep is not None
        try:
            self._housekeep(context, idle)
        except Exception:
            logger.exception("pepperflow: housekeeping on %s failed", self._name)

    def _serve(self, context: C) -> None:
        """Take batches of jobs off the queue and run them until told to stop."""
        waiting: float | None = None  # how long to wait before housekeeping when idle
        while True:
            try:
                first = self._queue.get(timeout=waiting)
            except queue.Empty:
                waiting = None
                self._tidy(context, True)
                continue
            if first is None:
                return
            batch, stopping = self._drain(first)
            for grouped, jobs in itertools.groupby(batch, _grouped):
                if grouped:
                    self._run(context, list(jobs))
                else:
                    for job in jobs:
                        self._run_alone(context, job)
            if self._housekeep is not None:
                self._tidy(context, False)
                waiting = self._housekeep_after
            if stopping:
                return

    def _drain(self, first: Job[C]) -> tuple[list[Job[C]], bool]:
        """``first`` and the jobs queued behind it; whether a stop came after them."""
        get_nowait = self._queue.get_nowait
        batch = [first]
        while True:
            try:
                job = get_nowait()
            except queue.Empty:
                return batch, False
            if job is None:
                return batch, True
            batch.append(job)

    def _run(self, context: C, group: list[Job[C]]) -> None:
        self._turn.acquire()  # once the loop has settled the group before
        try:
            value = self._run_group(context, group)
        except BaseException as exc:
            for job in group:
                job.error = job.error or exc
            value = None
        if not self._post(self._finish, group, value, True):
            self._turn.release()  # nobody is left to settle it

    def _run_alone(self, context: C, job: Job[C]) -> None:
        try:
            job.result = job.fn(context)
        except BaseException as exc:
            job.error = exc
        self._post(self._finish, [job], None, False)
