"""SqliteStore: the embedded persistent store, in one SQLite file (the event-loop side).

The file holds the changelog, whose fold is the state, and the marks of
sinks writing into it (:mod:`._schema`). One thread owns the connection
(stdlib ``sqlite3``, WAL mode; :mod:`._connection`) and runs writes in
order, the writers that arrive during a commit grouped into the next
transaction (group commit, :mod:`._transaction`). A write, its version and
its changelog row commit in one transaction before the change is folded
in, delivered and acknowledged: an acknowledged write survives a crash.

**One copy of the state.** The store keeps exactly one mapping of key to
its latest :class:`~pepperflow.streams.SetChange`: the view's ``_data``
(:class:`~pepperflow.stores._view.ViewStore`), which serves every read as a
dict lookup. Opening folds the changelog into it on the thread, and the
view adopts it. After that only the event loop changes it, folding each
committed group's changes in as :func:`pepperflow.streams.apply` does
(:meth:`SqliteStore._fold`: at once, or, with subscribers, as their
delivery starts; see :meth:`SqliteStore._on_done`). The thread reads it, and only
while a write transaction runs, through an overlay that holds the
transaction's own writes (:mod:`._overlay`); it never writes it. The two
take turns (:class:`~._thread.OwnerThread`): a transaction starts only once
the loop has folded in the one before it, and the loop folds a group in
only after its transaction ended, so neither sees the state half-changed,
with no lock around it and no second copy. The thread side keeps only
scalars (the last ``seq`` seen, the file's ``data_version``).

Several processes may open the same file, each with its own state: every
write transaction first reads the changes other processes committed, and an
idle store polls for them (``poll_interval``), so subscribers in one process
see the writes of another, in ``seq`` order. Writers in several processes
are supported: SQLite serializes them (waiting up to ``busy_timeout``), and
versions and ``seq`` are checked inside the write transaction, so
``if_version`` loses no update.

Compaction keeps the last ``retain`` changes and each key's latest, so
replaying the changelog still gives the state. See docs/sqlite.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar, overload

import anyio
import anyio.abc

from ..._patterns import compile_pattern
from ...sinks.metrics import MetricsRegistry
from ...streams.events import Change, ExpireChange, SetChange
from .._apply import Mark, decode_mark
from .._checks import check_seq
from .._codec import Metadata
from .._delivery import Ticket
from .._lookup import IndexTerms
from .._view import ViewStore
from ..base import Snapshot
from . import _jobs
from ._background import FILE_ERRORS, Retry, follow
from ._compaction import compact
from ._connection import Connection, housekeep
from ._options import Durability, check_options
from ._thread import Job, OwnerThread
from ._transaction import Transaction, run_group

__all__ = ["Durability", "SqliteStore"]

T = TypeVar("T")


class SqliteStore(ViewStore[T]):
    """The store contract in a SQLite file; see the module docstring.

    Open it with ``async with SqliteStore("app.db") as store:`` (or
    ``open_store("sqlite:///app.db")``); it must be open to be used.

    ``SqliteStore("app.db", type=Msg)`` is a ``SqliteStore[Msg]``: values
    set must be ``Msg`` instances, and every value read from the file (at
    open, from other processes, by ``changes_since``) is decoded as a
    ``Msg`` (see :mod:`pepperflow.stores._codec`). A stored set that no
    longer decodes as ``Msg`` keeps its key, and reading it raises
    :class:`~pepperflow.UndecodableValue` (see :mod:`._rows`).

    Args:
        path: the database file (created, with its directory, if missing).
        namespace: the store's name; one file holds many namespaces.
        type: the values' type (``Any`` by default).
        metadata_type: the metadata's type (``dict[str, Any]`` by default).
        durability: ``"normal"`` (default): an acknowledged write survives a
            crash of the process; ``"full"``: it also survives a power loss
            or OS crash (SQLite ``synchronous=FULL``, an fsync per commit).
        busy_timeout: seconds (or a timedelta) a write waits for another
            process's write, at most 24 days; 0: it fails at once.
        poll_interval: seconds (or a timedelta) between checks for other
            processes' writes, at least 0.001.
        retain: changes kept whole in the changelog beyond the latest per
            key, an int >= 0; 0 turns automatic compaction off.
        clock: wall-clock seconds since the epoch.
        callback_timeout, metrics, index: as :class:`~pepperflow.stores.MemoryStore`'s.

    Raises:
        ValueError, TypeError: a bad option, named with its value and what
            it may be, before any file is touched (see :mod:`._options`).
    """

    backend = "sqlite"

    @overload
    def __init__(
        self: SqliteStore[Any],
        path: str | os.PathLike[str],
        *,
        namespace: str = ...,
        metadata_type: Any = ...,
        durability: Durability = ...,
        busy_timeout: float | timedelta = ...,
        poll_interval: float | timedelta = ...,
        retain: int = ...,
        clock: Callable[[], float] = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = ...,
        type: type[T],
        metadata_type: Any = ...,
        durability: Durability = ...,
        busy_timeout: float | timedelta = ...,
        poll_interval: float | timedelta = ...,
        retain: int = ...,
        clock: Callable[[], float] = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "default",
        type: Any = Any,
        metadata_type: Any = Metadata,
        durability: Durability = "normal",
        busy_timeout: float | timedelta = 5.0,
        poll_interval: float | timedelta = 0.1,
        retain: int = 100_000,
        clock: Callable[[], float] = time.time,
        callback_timeout: float | timedelta | None = None,
        metrics: MetricsRegistry | None = None,
        index: IndexTerms | None = None,
    ) -> None:
        options = check_options(path, durability, busy_timeout, poll_interval, retain)
        super().__init__(
            namespace,
            type=type,
            metadata_type=metadata_type,
            clock=clock,
            callback_timeout=callback_timeout,
            metrics=metrics,
            index=index,
        )
        self._options = options
        self.path = options.path
        self.durability: Durability = options.durability
        self._expiry_retry = Retry(repr(self), "the expiry")
        self._thread: OwnerThread[Connection] | None = None
        # A committed group left for its delivery to fold in (see _on_done).
        self._unfolded: list[Change] | None = None
        # Writers cancelled before their job finished (they will not wait for its delivery).
        self._gone: set[Job[Any]] = set()

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path!r} namespace={self.name!r}>"

    # -- writing (each a job in the next group transaction) ------------------

    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        version: int = await self._write(
            partial(_jobs.set_one, key, value, metadata, ttl, if_version)
        )
        return version

    async def _set_many(
        self, items: list[tuple[str, Any]], ttl: float | None, metadata: Any
    ) -> None:
        if items:
            await self._write(partial(_jobs.set_many, items, metadata, ttl))

    async def _delete(self, key: str, if_version: int | None) -> bool:
        deleted: bool = await self._write(partial(_jobs.delete, key, if_version))
        return deleted

    async def clear(self, pattern: str | None = None) -> int:
        compiled = compile_pattern(pattern)
        deleted: int = await self._write(partial(_jobs.clear, compiled.prefix, compiled.match))
        return deleted

    async def _restore(self, snapshot: Snapshot) -> None:
        await self._write(partial(_jobs.restore, snapshot))

    async def _apply(self, changes: list[Change], mark: Mark | None) -> None:
        if changes or mark is not None:
            await self._write(partial(_jobs.apply, changes, mark))

    async def _read_mark(self, name: str) -> Mark | None:
        data = await self._connection().run(lambda connection: connection.read_mark(name))
        return None if data is None else decode_mark(data)

    async def compact(self) -> int:
        """Drop the rows older than the last ``retain`` changes no state folds to; their count."""
        return await self._connection().run(compact)

    async def changes_since(self, seq: int) -> list[Change]:
        """The changes after ``seq`` still in the changelog, in order.

        Complete when their seqs are dense from ``seq + 1``: compaction
        drops old deletes and replaced sets, which leaves holes.
        """
        check_seq(seq)
        upto = self._seq
        changes: list[Change] = await self._connection().run(
            lambda connection: connection.read_changes(seq, upto)
        )
        return changes

    # -- expiry (committed in the file like any write; retried if it fails) -

    async def _expire_lazily(self, entry: SetChange[Any, Any]) -> None:
        await self._commit_expiry([entry])

    async def _expire_entries(self, entries: list[SetChange[Any, Any]], now: float) -> None:
        await self._commit_expiry(entries)

    async def _expire_due(self, now: float) -> bool:
        due = self._pop_due(now)
        if due and not await self._commit_expiry(due):
            self._push_back(due)  # the expiry task retries them after the backoff
            await anyio.sleep(self._expiry_retry.delay)
        return bool(due)

    async def _commit_expiry(self, entries: list[SetChange[Any, Any]]) -> bool:
        """Commit the expiry of ``entries``; whether it committed.

        A failed commit (:data:`._background.FILE_ERRORS`) is logged and counted
        (``statistics().expiry_errors``), never raised: the keys, past their
        deadline, read as absent all the same, and the expiry task retries.
        """
        try:
            await self._write(partial(_jobs.expire, [(e.key, e.seq) for e in entries]))
        except FILE_ERRORS as error:
            self._expiry_errors += 1
            self._expiry_retry.failed(error, f" ({len(entries)} key(s))")
            return False
        self._expiry_retry.succeeded()
        return True

    # -- the write path ------------------------------------------------------

    def _connection(self) -> OwnerThread[Connection]:
        if self._thread is None:
            self._check_open()
            raise RuntimeError(
                f"{self!r} is not open; use `async with SqliteStore(path) as store:`"
                " or `async with open_store('sqlite:///path.db') as store:`"
            )
        return self._thread

    async def _write(self, fn: Callable[[Transaction], Any]) -> Any:
        """Run ``fn`` in the next group transaction; return once delivered.

        The changes are delivered in this task when their turn comes (see
        :mod:`pepperflow.stores._delivery`). If the caller is cancelled, the
        write still commits (or fails) and is delivered; only the caller
        stops waiting.
        """
        thread = self._connection()
        job = thread.submit(fn, grouped=True)
        try:
            await thread.wait(job)
        except BaseException:
            if not job.finished:
                self._gone.add(job)  # _on_done will not count on this writer
            elif job.after is not None:
                await self._hub.release(job.after)
            raise
        after = job.after
        if after is not None:
            if job.error is None and not self._hub.delivering_here():
                await self._hub.wait(after)
            else:  # failed, or made by a callback: the task delivering delivers it
                await self._hub.release(after)
        if job.error is not None:
            raise job.error
        return job.result

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

    # -- lifecycle -----------------------------------------------------------

    async def _open(self, task_group: anyio.abc.TaskGroup) -> None:
        thread: OwnerThread[Connection] = OwnerThread(
            open=partial(
                Connection.open, self._options, self.name, self._clock, self.codec.decode_change
            ),
            run_group=run_group,
            close=Connection.close,
            on_done=self._on_done,
            name=f"pepperflow-sqlite:{self.name}",
            housekeep=housekeep,
        )
        await thread.start()
        try:
            self._seq, self._data = await thread.run(partial(Connection.load, adopt=self._adopt))
        except BaseException:
            await thread.stop()
            raise
        self._thread = thread  # open for writes: they read the state just adopted
        for entry in self._data.values():
            if entry.expires_at is not None:
                self._schedule(entry.expires_at, entry.seq, entry.key)
        catch_up = partial(self._write, _jobs.nothing)
        task_group.start_soon(follow, thread, catch_up, self._options.poll_interval, repr(self))

    async def _close(self) -> None:
        if self._unfolded is not None:  # its delivery never started: the state takes it now
            self._take_in(self._unfolded)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.stop()
