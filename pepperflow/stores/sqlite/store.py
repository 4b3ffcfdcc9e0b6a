"""SqliteStore: the embedded persistent store, in one SQLite file (the event-loop side).

The file holds one table, the changelog (:mod:`._schema`); the state is its
fold. Every write goes to the file: one thread owns the connection (stdlib
``sqlite3``, WAL mode; :mod:`._connection`) and runs writes in order,
batching the writers that arrive while a commit is in progress into the
next transaction (group commit, :mod:`._transaction`). A write, its version
bump and its changelog row commit in one transaction; only then is the
change folded into the state, delivered to subscribers and the write
acknowledged. So an acknowledged write survives a crash of the process.

**One copy of the state.** The store keeps exactly one mapping of key to
its latest :class:`~pepperflow.streams.SetChange`: the view's ``_data``
(:class:`~pepperflow.stores._view.ViewStore`), which serves every read as a
dict lookup. Opening folds the changelog into it on the thread, and the
view adopts it. After that only the event loop changes it, folding each
committed group's changes in with :func:`pepperflow.streams.apply`
(:meth:`SqliteStore._fold`: at once, or, with subscribers, as their
delivery starts; see :class:`_Delivery`). The thread reads it, and only
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

The changelog keeps the last ``retain`` changes whole and, beyond that, the
latest change of each key (compaction), so replaying it still gives the
state. See docs/sqlite.md.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, overload

import anyio
import anyio.abc

from ..._patterns import compile_pattern
from ...streams.events import Change, ExpireChange, SetChange, apply
from .._apply import Mark, decode_mark
from .._codec import Metadata
from .._view import ViewStore
from ..base import Snapshot
from . import _jobs
from ._connection import SYNCHRONOUS, Connection, Durability, compact, housekeep, others_wrote
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
        busy_timeout: seconds a write waits for another process's write.
        poll_interval: seconds between checks for other processes' writes.
        retain: changes kept in the changelog beyond the latest per key.
        clock: wall-clock seconds since the epoch.
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
        busy_timeout: float = ...,
        poll_interval: float = ...,
        retain: int = ...,
        clock: Callable[[], float] = ...,
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
        busy_timeout: float = ...,
        poll_interval: float = ...,
        retain: int = ...,
        clock: Callable[[], float] = ...,
    ) -> None: ...

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "default",
        type: Any = Any,
        metadata_type: Any = Metadata,
        durability: Durability = "normal",
        busy_timeout: float = 5.0,
        poll_interval: float = 0.1,
        retain: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(namespace, type=type, metadata_type=metadata_type, clock=clock)
        if durability not in SYNCHRONOUS:
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        if retain.__class__ is not int or retain < 0:  # `type` is the value type here
            raise ValueError(f"retain must be an int >= 0 (changes kept), got {retain!r}")
        self.path = os.fspath(path)
        self.durability: Durability = durability
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._retain = retain
        self._thread: OwnerThread[Connection] | None = None
        self._deliveries: deque[_Delivery] = deque()
        self._delivery_wake: anyio.Event | None = None

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
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: dict[str, Any] | None,
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
        """Drop changelog rows older than the last ``retain`` that are not the
        latest change of their key; return how many were dropped."""
        dropped: int = await self._connection().run(compact)
        return dropped

    async def changes_since(self, seq: int) -> list[Change]:
        """The changes after ``seq`` still in the changelog, in order.

        Complete when their seqs are dense from ``seq + 1``: compaction
        drops old deletes and replaced sets, which leaves holes.
        """
        if type(seq) is not int or seq < 0:
            raise ValueError(f"seq must be an int >= 0, got {seq!r}")
        upto = self._seq
        changes: list[Change] = await self._connection().run(
            lambda connection: connection.read_changes(seq, upto)
        )
        return changes

    # -- expiry (committed in the file like any write) -----------------------

    async def _expire_lazily(self, entry: SetChange[Any, Any]) -> None:
        await self._write(partial(_jobs.expire, [(entry.key, entry.seq)]))

    async def _expire_entries(self, entries: list[SetChange[Any, Any]], now: float) -> None:
        await self._write(partial(_jobs.expire, [(e.key, e.seq) for e in entries]))

    async def _expire_due(self, now: float) -> bool:
        due = self._pop_due(now)
        if due:
            await self._write(partial(_jobs.expire, [(e.key, e.seq) for e in due]))
        return bool(due)

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

        If the caller is cancelled, the write still commits (or fails) and
        is delivered; only the caller stops waiting.
        """
        thread = self._connection()
        job = thread.submit(fn, grouped=True)
        await thread.wait(job)
        if job.error is not None:
            raise job.error
        after = job.after
        if after is not None and not self._hub.delivering_here():
            await after.wait()
        return job.result

    def _on_done(self, jobs: list[Job[Any]], changes: list[Change] | None) -> bool:
        """On the event loop, in commit order: take the changes in, queue delivery.

        Returns whether they are folded into the state already (else the
        delivery task folds them as it starts delivering them; see
        :class:`_Delivery`).
        """
        if not changes:
            return True
        if not self._hub.count:
            self._fold(changes)
            return True
        delivery = _Delivery(changes)
        for job in jobs:
            job.after = delivery.delivered
        self._deliveries.append(delivery)
        wake = self._delivery_wake
        if wake is None:  # the delivery task is busy delivering (or gone)
            self._fold(changes)
            delivery.folded = True
            return True
        self._delivery_wake = None
        wake.set()
        return False

    def _take_in(self, delivery: _Delivery, thread: OwnerThread[Connection]) -> None:
        """Fold a delivery's changes that :meth:`_on_done` left to the delivery task."""
        self._fold(delivery.changes)
        delivery.folded = True
        thread.settle()

    def _fold(self, changes: list[Change]) -> None:
        """Fold committed changes into the state, keeping the TTL bookkeeping."""
        data = self._data
        for change in changes:
            old = data.get(change.key)
            if old is not None and old.expires_at is not None:
                self._ttl_keys -= 1
            apply(data, change)
            if isinstance(change, SetChange):
                if change.expires_at is not None:
                    self._schedule(change.expires_at, change.seq, change.key)
            elif old is not None and type(change) is ExpireChange:
                self._expired += 1
        self._seq = changes[-1].seq

    async def _deliver_loop(self, thread: OwnerThread[Connection]) -> None:
        deliveries = self._deliveries
        try:
            while True:
                while deliveries:
                    delivery = deliveries[0]
                    if not delivery.folded:
                        self._take_in(delivery, thread)
                    try:
                        await self._hub.publish_all(delivery.changes)
                    finally:
                        deliveries.popleft()
                        delivery.delivered.set()
                self._delivery_wake = wake = anyio.Event()
                await wake.wait()
        finally:
            self._delivery_wake = None

    async def _follow_loop(self) -> None:
        """Pick up the writes of other processes while nothing is written here."""
        thread = self._connection()
        while True:
            await anyio.sleep(self._poll_interval)
            if await thread.run(others_wrote):
                await self._write(_jobs.nothing)

    # -- lifecycle -----------------------------------------------------------

    async def _open(self, task_group: anyio.abc.TaskGroup) -> None:
        thread: OwnerThread[Connection] = OwnerThread(
            open=partial(
                Connection.open,
                self.path,
                self.name,
                self.durability,
                self._busy_timeout,
                self._retain,
                self._clock,
                self.codec.decode_change,
            ),
            run_group=run_group,
            close=Connection.close,
            on_done=self._on_done,
            name=f"pepperflow-sqlite:{self.name}",
            housekeep=housekeep,
        )
        await thread.start()
        try:
            self._seq, self._data = await thread.run(Connection.load)
        except BaseException:
            await thread.stop()
            raise
        self._thread = thread  # open for writes: they read the state just adopted
        for entry in self._data.values():
            if entry.expires_at is not None:
                self._schedule(entry.expires_at, entry.seq, entry.key)
        task_group.start_soon(self._deliver_loop, thread)
        task_group.start_soon(self._follow_loop)

    async def _close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        for delivery in self._deliveries:  # the delivery task is gone
            if not delivery.folded:
                self._take_in(delivery, thread)
        await thread.stop()
        while self._deliveries:
            self._deliveries.popleft().delivered.set()


class _Delivery:
    """Committed changes on their way to the subscribers.

    With subscribers, a group's changes enter the state when their delivery
    starts, in the delivery task, so that a reader never sees a change its
    (synchronous) subscribers have not received yet, as on MemoryStore. While
    the delivery task is busy (an async callback awaits), later groups are
    folded in as they commit: the state is then ahead of the delivery, as on
    MemoryStore while a delivery awaits. A group not yet folded holds the
    next transaction back (:meth:`OwnerThread.settle`).
    """

    __slots__ = ("changes", "delivered", "folded")

    def __init__(self, changes: list[Change]) -> None:
        self.changes = changes
        self.delivered = anyio.Event()
        self.folded = False
