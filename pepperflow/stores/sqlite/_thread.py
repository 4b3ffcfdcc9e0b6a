"""A thread that owns one resource (a sqlite3 connection) and runs jobs on it.

Jobs are queued from the event loop and run in order on the thread.
Consecutive write jobs are run as one group (one transaction: group commit),
so writers that arrive while a commit is in progress share the next one.
Results go back to the event loop without blocking the thread, through the
running backend's thread-safe "call soon" (asyncio's
``loop.call_soon_threadsafe``, trio's ``TrioToken.run_sync_soon``): one
wake-up of the loop per group, not one per job. That call sets each job's
waiter directly (:mod:`._loops`: an asyncio future, or trio's ``reschedule``
of the waiting task), with no event object in between.

Groups and the event loop take turns: a group starts only once the group
before it is *settled* on the loop (when ``on_done`` returns True, or at
the :meth:`OwnerThread.settle` that follows a False). So the loop may fold
a group's outcome into state that the next group reads, and the two never
touch it at once, with no lock. Lone jobs do not wait for that turn (they
must not read such state).

Housekeeping (for SQLite: changelog compaction, and WAL checkpoints, which
mostly run on a thread of their own) runs on the thread after a batch's
results were handed back, so no waiting writer pays for it, and again once
the queue has been empty for a while.

**Inline groups.** A small group nobody else waits behind may run on the
event loop's own thread instead (:meth:`OwnerThread.run_inline`): when
every job submitted has finished (not only left the queue: the thread takes
a batch off it before it takes the turn, and a group committed in between
would overtake it), the last group is settled (the turn is free) and the
thread is not using the resource (the ``_busy`` lock, which the thread
holds around everything it does with the resource). It then costs no
crossing of threads at all. ``inline`` raises :class:`Contended` when the
group would have to wait (another process holds the file's lock), having
done nothing, and the job goes to the thread after all. While
``housekeep_due`` says housekeeping is due, jobs go to the thread, which
housekeeps after them (and an inline group after which it is due queues a
request for it); idle housekeeping waits until no group ran, inline
ones included, for ``housekeep_after`` (the thread is not woken for it: it
comes after the next lone job, e.g. the store's poll for other processes). A job of
another task than the last inline one, within :data:`SHARE_WINDOW` of it,
goes to the thread: writers that come together share a group commit. And
as inline groups never wait, every :data:`YIELD_EVERY`-th caller lets
other tasks run (:meth:`OwnerThread.yield_due`; a count, not a time, so a
pause of the garbage collector or a long delivery does not make every
write yield): a task writing in a loop neither holds up the loop for long
nor keeps other writers from their groups.
"""

from __future__ import annotations

import itertools
import logging
import operator
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio

from ._loops import Job, Loop, current_loop

__all__ = ["Contended", "Job", "OwnerThread"]

logger = logging.getLogger("pepperflow")

R = TypeVar("R")
C = TypeVar("C")

_grouped = operator.attrgetter("grouped")


class Contended(Exception):
    """Raised by an inline group that would wait: it did nothing; run it on the thread."""


#: Seconds after an inline group in which another task's job is taken for a
#: concurrent writer, and queued for a group commit rather than run inline.
SHARE_WINDOW = 0.001
#: Queued by :meth:`OwnerThread.run_inline` to have the thread housekeep.
_TIDY: Any = object()
#: Inline groups after which their caller lets other tasks run (~1-2 ms of them).
YIELD_EVERY = 64


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
        inline: runs a group on the event loop's thread (as ``run_group``
            does, or raising :class:`Contended`); None: never inline.
        housekeep_due: whether ``housekeep(context, False)`` would do
            something (see :meth:`run_inline`).
        before_alone: called on the thread with the context before each lone
            job and each housekeeping (to undo what ``inline`` set for itself).
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
        inline: Callable[[C, list[Job[C]]], Any] | None = None,
        housekeep_due: Callable[[C], bool] | None = None,
        before_alone: Callable[[C], None] | None = None,
    ) -> None:
        self._open = open
        self._run_group = run_group
        self._close = close
        self._on_done = on_done
        self._name = name
        self._housekeep = housekeep
        self._housekeep_after = housekeep_after
        self._inline = inline
        self._housekeep_due = housekeep_due
        self._before_alone = before_alone
        self._context: C | None = None  # set by the thread before `start` returns
        self._last_inline: tuple[object, float] = (None, 0.0)  # its task, when it ended
        self._inline_runs = 0  # inline groups since a caller let others run
        # Jobs submitted whose outcome the loop has not seen: the thread may
        # have taken them off the queue and not yet started them (see run_inline).
        self._pending = 0
        # Held by the thread whenever it uses the resource (see run_inline).
        self._busy = threading.Lock()
        self._queue: queue.SimpleQueue[Job[C] | None] = queue.SimpleQueue()
        self._loop: Loop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = anyio.Event()
        self._open_error: BaseException | None = None
        # Held from the start of a group until the loop settles it: the next
        # group's acquire waits for that (a lock, released by the other thread).
        self._turn = threading.Lock()

    async def start(self) -> None:
        """Start the thread and wait until ``open`` has run (re-raising its error,
        once the thread is gone)."""
        self._loop = current_loop()
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
        self._pending += 1
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

    def run_inline(self, fn: Callable[[Any], Any]) -> Job[C] | None:
        """On the loop: run ``fn`` as a group of its own right here, if every
        job submitted finished and the last group settled; the finished job
        (``on_done`` has seen it), or None (nothing was done: ``submit`` it
        instead)."""
        inline, context, loop, due = self._inline, self._context, self._loop, self._housekeep_due
        if inline is None or context is None or loop is None or self._pending:
            return None  # a job before it is unfinished: it would overtake that
        if not self._queue.empty():
            return None  # housekeeping (or the stop) was asked for
        if due is not None and due(context):
            return None  # the thread housekeeps after running it
        task, (last, ended) = loop.current_task(), self._last_inline
        if task is not last and time.monotonic() - ended < SHARE_WINDOW:
            return None  # a concurrent writer: queue it, so writers share commits
        if not self._turn.acquire(blocking=False):
            return None
        if not self._busy.acquire(blocking=False):
            self._turn.release()
            return None
        job: Job[C] = Job(fn, True)
        try:
            value = inline(context, [job])
        except Contended:
            self._turn.release()
            return None
        except BaseException as exc:
            job.error = exc
            value = None
        finally:
            self._busy.release()
        self._last_inline = (task, time.monotonic())
        self._inline_runs += 1
        self._finish([job], value, True)
        if due is not None and due(context):
            self._queue.put(_TIDY)  # then jobs go to the thread until it has tidied
        return job

    def yield_due(self) -> bool:
        """On the loop, after :meth:`run_inline` gave a job: whether its caller
        must now let other tasks run (``await wait(job)`` does), as inline
        groups ran :data:`YIELD_EVERY` times since the last that did."""
        if self._inline_runs < YIELD_EVERY:
            return False
        self._inline_runs = 0
        return True

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

    def _done(self, jobs: list[Job[C]], value: Any, group: bool) -> None:
        """The thread ran ``jobs`` (submitted ones): finish them."""
        self._pending -= len(jobs)
        self._finish(jobs, value, group)

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
            context = self._context = self._open()
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
            with self._busy:
                self._alone(context)
                self._housekeep(context, idle)
        except Exception:
            logger.exception("pepperflow: housekeeping on %s failed", self._name)

    def _tidy_if_idle(self, context: C) -> None:
        """Housekeep if no group ran, inline ones included, for ``housekeep_after``
        seconds (if one did, the next batch tries again: no waking up for it)."""
        if time.monotonic() - self._last_inline[1] >= self._housekeep_after:
            self._tidy(context, True)

    def _serve(self, context: C) -> None:
        """Take batches of jobs off the queue and run them until told to stop."""
        waiting: float | None = None  # how long to wait before housekeeping when idle
        while True:
            try:
                first = self._queue.get(timeout=waiting)
            except queue.Empty:
                waiting = None
                self._tidy_if_idle(context)
                continue
            if first is None:
                return
            if first is _TIDY:
                self._tidy(context, False)
                continue
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
            if job is not _TIDY:  # the batch's own housekeeping follows it
                batch.append(job)

    def _run(self, context: C, group: list[Job[C]]) -> None:
        self._turn.acquire()  # once the loop has settled the group before
        try:
            with self._busy:
                value = self._run_group(context, group)
        except BaseException as exc:
            for job in group:
                job.error = job.error or exc
            value = None
        if not self._post(self._done, group, value, True):
            self._turn.release()  # nobody is left to settle it

    def _alone(self, context: C) -> None:
        if self._before_alone is not None:
            self._before_alone(context)

    def _run_alone(self, context: C, job: Job[C]) -> None:
        try:
            with self._busy:
                self._alone(context)
                job.result = job.fn(context)
        except BaseException as exc:
            job.error = exc
        self._post(self._done, [job], None, False)
