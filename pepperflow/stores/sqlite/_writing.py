"""SqliteStore's write path on the event loop: commit, take in, deliver.

A write is a job (:mod:`._jobs`) run in a group transaction, inline on the
event loop's thread or on the connection's thread (:mod:`._thread`); once
committed, :meth:`WritePath._on_done` folds its changes into the state and
queues their delivery, which the writer then waits for (see
:mod:`pepperflow.stores._delivery`). Split from :mod:`.store`, which
holds the contract's operations and the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ...streams.events import Change, ExpireChange, SetChange
from .._delivery import Ticket
from .._view import ViewStore
from ._connection import Connection
from ._thread import Job, OwnerThread
from ._transaction import Transaction

__all__ = ["SMALL", "WritePath"]

T = TypeVar("T")
#: The most rows a write may have to commit on the event loop's thread.
SMALL = 16


class WritePath(ViewStore[T]):
    """The write path of :class:`~.store.SqliteStore` (see the module docstring)."""

    _thread: OwnerThread[Connection] | None = None
    #: A committed group left for its delivery to fold in (see _on_done).
    _unfolded: list[Change] | None = None
    #: Writers waiting for the thread: while any does, a write queues behind
    #: them (so they share a group commit) rather than commit inline.
    _writers = 0
    #: Writers cancelled before their job finished (they will not wait for its
    #: delivery): set to a set of its own by ``__init__``.
    _gone: set[Job[Any]]

    def _connection(self) -> OwnerThread[Connection]:
        if self._thread is None:
            self._check_open()
            raise RuntimeError(
                f"{self!r} is not open; use `async with SqliteStore(path) as store:`"
                " or `async with open_store('sqlite:///path.db') as store:`"
            )
        return self._thread

    async def _write(self, fn: Callable[[Transaction], Any], *, small: bool = False) -> Any:
        """Run ``fn`` in the next group transaction; return once delivered.

        A ``small`` write (a few rows) that no other writer waits before
        commits on the event loop's thread if it can do so at once
        (:meth:`OwnerThread.run_inline`); others, and big ones, on the
        connection's thread. The changes are delivered in this task when
        their turn comes (see :mod:`pepperflow.stores._delivery`). If the
        caller is cancelled, the write still commits (or fails) and is
        delivered; only the caller stops waiting.
        """
        thread = self._connection()
        job = None if self._writers or not small else thread.run_inline(fn)
        if job is None:
            job = thread.submit(fn, grouped=True)
            await self._wait_for(thread, job)
        elif thread.yield_due():  # committed: a checkpoint, then as below
            await self._wait_for(thread, job)
        after = job.after
        if after is not None:
            if job.error is None and not self._hub.delivering_here():
                await self._hub.wait(after)
            else:  # failed, or made by a callback: the task delivering delivers it
                await self._hub.release(after)
        if job.error is not None:
            raise job.error
        return job.result

    async def _wait_for(self, thread: OwnerThread[Connection], job: Job[Any]) -> None:
        """Wait for ``job``, counted among the writers who wait (see :meth:`_write`)."""
        self._writers += 1
        try:
            await thread.wait(job)
        except BaseException:
            if not job.finished:
                self._gone.add(job)  # _on_done will not count on this writer
            elif job.after is not None:
                await self._hub.release(job.after)
            raise
        finally:
            self._writers -= 1

    def _on_done(self, jobs: list[Job[Any]], changes: list[Change] | None) -> bool:
        """On the event loop, in commit order: take the changes in, queue delivery.

        With subscribers, and nothing being delivered, a group's changes
        enter the state only when their delivery starts (:meth:`_take_in`),
        so a reader never sees a change its synchronous subscribers have not
        received, as on MemoryStore; the next transaction waits for that
        (returns False: :meth:`OwnerThread.settle` follows). While a delivery
        is under way, they enter the state at once: the state is then ahead
        of the delivery, as on MemoryStore while a callback awaits.
        """
        gone = self._gone
        writers = len(jobs)
        if gone:
            writers -= len(gone.intersection(jobs))
            gone.difference_update(jobs)
        hub = self._hub
        if not changes or not hub.count:
            if changes:
                self._fold(changes)
            return True
        ticket: Ticket | None
        if hub.idle:
            self._unfolded = changes
            ticket = hub.post_group(changes, self._take_in, writers)
        else:
            self._fold(changes)
            ticket = hub.post(changes, writers)
        for job in jobs:
            job.after = ticket
        return ticket is None or ticket.group is None

    def _take_in(self, changes: list[Change]) -> None:
        """Fold a group :meth:`_on_done` left to its delivery, and let the next one commit."""
        if self._unfolded is changes:
            self._unfolded = None
            self._fold(changes)
            if self._thread is not None:
                self._thread.settle()

    def _fold(self, changes: list[Change]) -> None:
        """Fold committed changes into the state, keeping the TTL bookkeeping."""
        data = self._data
        for change in changes:  # (pepperflow.streams.apply inlined: a write-behind's hot path)
            old = data.get(key := change.key)
            if old is not None and old.expires_at is not None:
                self._ttl_keys -= 1
            if isinstance(change, SetChange):
                data[key] = change
                if change.expires_at is not None:
                    self._schedule(change.expires_at, change.seq, key)
            elif data.pop(key, None) is not None and type(change) is ExpireChange:
                self._expired += 1
        self._seq = changes[-1].seq
