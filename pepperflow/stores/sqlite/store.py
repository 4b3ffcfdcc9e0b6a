"""SqliteStore: the embedded persistent store, in one SQLite file (the event-loop side).

The file holds the changelog, whose fold is the state, and the marks of
sinks writing into it (:mod:`._schema`). One connection (stdlib
``sqlite3``, WAL mode; :mod:`._connection`) is owned by a thread
(:class:`~._thread.OwnerThread`) that runs writes in order, the writers
that arrive during a commit grouped into the next transaction (group
commit, :mod:`._transaction`); a lone small write that nobody waits behind
commits on the event loop's thread instead (``run_inline``: no thread
crossing), unless it would wait for the file. Either way a write, its
version and its changelog row commit in one transaction before the change
is folded in, delivered and acknowledged: an acknowledged write survives a
crash.

**One copy of the state.** The view's ``_data``
(:class:`~pepperflow.stores._view.ViewStore`) maps each key to its latest
:class:`~pepperflow.streams.SetChange` and serves every read. Opening folds
the changelog into it on the thread; after that only the event loop changes
it, folding each committed group in as :func:`pepperflow.streams.apply`
does (:meth:`SqliteStore._fold`: at once, or, with subscribers, as their
delivery starts; see :meth:`SqliteStore._on_done`). A write transaction reads it through an
overlay of its own writes (:mod:`._overlay`) and never writes it; a
transaction starts only once the loop folded in the one before it, so
neither side sees the state half-changed, with no lock around it.

Several processes may open the same file: every write transaction first
reads what other processes committed, and an idle store polls for it
(``poll_interval``), so subscribers see every process's writes in ``seq``
order; SQLite serializes writers (``busy_timeout``) and versions are
checked inside the transaction, so ``if_version`` loses no update.
Compaction keeps the last ``retain`` changes and each key's latest. See
docs/sqlite.md.
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
from ...streams.events import Change, SetChange
from .._apply import Mark, decode_mark
from .._checks import check_seq
from .._codec import Metadata
from .._lookup import IndexTerms
from ..base import Snapshot
from . import _jobs
from ._background import FILE_ERRORS, Retry, follow
from ._compaction import compact
from ._connection import Connection, housekeep, housekeep_due
from ._options import Durability, check_options
from ._thread import OwnerThread
from ._transaction import run_group
from ._writing import SMALL, WritePath

__all__ = ["Durability", "SqliteStore"]

T = TypeVar("T")


class SqliteStore(WritePath[T]):
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
        callback_timeout: as :class:`~pepperflow.stores.MemoryStore`'s.
        metrics: as :class:`~pepperflow.stores.MemoryStore`'s.
        index: as :class:`~pepperflow.stores.MemoryStore`'s.

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
        self._gone = set()

    # -- writing (each a job in the next group transaction) ------------------

    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        job = partial(_jobs.set_one, key, value, metadata, ttl, if_version)
        version: int = await self._write(job, small=True)
        return version

    async def _set_many(
        self, items: list[tuple[str, Any]], ttl: float | None, metadata: Any
    ) -> None:
        if items:
            job = partial(_jobs.set_many, items, metadata, ttl)
            await self._write(job, small=len(items) <= SMALL)

    async def _delete(self, key: str, if_version: int | None) -> bool:
        deleted: bool = await self._write(partial(_jobs.delete, key, if_version), small=True)
        return deleted

    async def clear(self, pattern: str | None = None) -> int:
        compiled = compile_pattern(pattern)
        deleted: int = await self._write(partial(_jobs.clear, compiled.prefix, compiled.match))
        return deleted

    async def _restore(self, snapshot: Snapshot) -> None:
        await self._write(partial(_jobs.restore, snapshot))

    async def _apply(self, changes: list[Change], mark: Mark | None) -> None:
        if changes or mark is not None:
            await self._write(partial(_jobs.apply, changes, mark), small=len(changes) <= SMALL)

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
            job = partial(_jobs.expire, [(e.key, e.seq) for e in entries])
            await self._write(job, small=len(entries) <= SMALL)
        except FILE_ERRORS as error:
            self._expiry_errors += 1
            self._expiry_retry.failed(error, f" ({len(entries)} key(s))")
            return False
        self._expiry_retry.succeeded()
        return True

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
            # An fsync per commit ("full") stays off the event loop's thread.
            inline=partial(run_group, inline=True) if self.durability == "normal" else None,
            housekeep_due=housekeep_due,
            before_alone=partial(Connection.wait_for_lock, patient=True),
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
        catch_up = partial(self._write, _jobs.nothing, small=True)
        task_group.start_soon(follow, thread, catch_up, self._options.poll_interval, repr(self))

    async def _close(self) -> None:
        if self._unfolded is not None:  # its delivery never started: the state takes it now
            self._take_in(self._unfolded)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.stop()
