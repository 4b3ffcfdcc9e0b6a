"""SqliteStore: the embedded persistent store, in one SQLite file.

The file holds one table, the changelog (:mod:`._sqlite_schema`); the state
is its fold. Reads are served from an in-memory view of that fold (the
latest change per key, as MemoryStore keeps it), so they cost what a dict
lookup costs. Every write goes to the file: one thread owns the connection
(stdlib ``sqlite3``, WAL mode) and runs writes in order, batching the writers
that arrive while a commit is in progress into the next transaction (group
commit). A write, its version bump and its changelog row commit in one
transaction; only then is the change applied to the view, delivered to
subscribers and the write acknowledged. So an acknowledged write survives a
crash of the process.

Several processes may open the same file, each with its own view: every
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

import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import anyio
import anyio.abc
import msgspec

from .._errors import VersionConflict
from .._patterns import compile_pattern
from ..streams.events import Change, DeleteChange, ExpireChange, SetChange
from ._sqlite_schema import migrate
from ._thread import Job, OwnerThread
from ._view import ViewStore
from .base import (
    Snapshot,
)

__all__ = ["Durability", "SqliteStore"]

logger = logging.getLogger("pepperflow")

Durability = Literal["normal", "full"]
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

_encode = msgspec.msgpack.Encoder().encode
_decode_change = msgspec.msgpack.Decoder(Change).decode
_decode_set = msgspec.msgpack.Decoder(SetChange).decode

# WAL checkpoints are run by the connection's thread between writes (see
# _housekeep), counted in estimated pages: one per commit, plus one per
# _ROWS_PER_PAGE changes. SQLite's automatic checkpoint would run inside the
# commit of whichever writer crossed its bound (1,000 pages), stalling it.
_ROWS_PER_PAGE = 32
_CHECKPOINT_BUSY = 1000
_CHECKPOINT_IDLE = 100


class SqliteStore(ViewStore):
    """The store contract in a SQLite file; see the module docstring.

    Open it with ``async with SqliteStore("app.db") as store:`` (or
    ``open_store("sqlite:///app.db")``); it must be open to be used.

    Args:
        path: the database file (created, with its directory, if missing).
        namespace: the store's name; one file holds many namespaces.
        durability: ``"normal"`` (default): an acknowledged write survives a
            crash of the process; ``"full"``: it also survives a power loss
            or OS crash (SQLite ``synchronous=FULL``, an fsync per commit).
        busy_timeout: seconds a write waits for another process's write.
        poll_interval: seconds between checks for other processes' writes.
        retain: changes kept in the changelog beyond the latest per key.
        clock: wall-clock seconds since the epoch.
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "default",
        durability: Durability = "normal",
        busy_timeout: float = 5.0,
        poll_interval: float = 0.1,
        retain: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(namespace, clock=clock)
        if durability not in _SYNCHRONOUS:
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        if type(retain) is not int or retain < 0:
            raise ValueError(f"retain must be an int >= 0 (changes kept), got {retain!r}")
        self.path = os.fspath(path)
        self.durability: Durability = durability
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._retain = retain
        self._thread: OwnerThread[_Connection] | None = None
        self._deliveries: deque[tuple[list[Change], anyio.Event]] = deque()
        self._delivery_wake: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path!r} namespace={self.name!r}>"

    # -- writing -------------------------------------------------------------

    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        result: int = await self._write(partial(_set, key, value, metadata, ttl, if_version))
        return result

    async def _set_many(
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        if items:
            await self._write(partial(_set_many, items, metadata, ttl))

    async def _delete(self, key: str, if_version: int | None) -> bool:
        result: bool = await self._write(partial(_delete, key, if_version))
        return result

    async def clear(self, pattern: str | None = None) -> int:
        compiled = compile_pattern(pattern)
        result: int = await self._write(partial(_clear, compiled.prefix, compiled.match))
        return result

    async def _restore(self, snapshot: Snapshot) -> None:
        await self._write(partial(_restore, snapshot))

    async def compact(self) -> int:
        """Drop changelog rows older than the last ``retain`` that are not the
        latest change of their key; return how many were dropped."""
        result: int = await self._connection().run(_compact)
        return result

    async def changes_since(self, seq: int) -> list[Change]:
        """The changes after ``seq`` still in the changelog, in order.

        Compaction keeps the latest change of every key, so folding the
        result into a state taken at ``seq`` gives the current state.
        """
        if type(seq) is not int or seq < 0:
            raise ValueError(f"seq must be an int >= 0, got {seq!r}")
        upto = self._seq
        result: list[Change] = await self._connection().run(
            lambda conn: conn.read_changes(seq, upto)
        )
        return result

    # -- expiry (committed in the file like any write) -----------------------

    async def _expire_lazily(self, entry: SetChange) -> None:
        await self._write(partial(_expire, [(entry.key, entry.seq)]))

    async def _expire_entries(self, entries: list[SetChange], now: float) -> None:
        await self._write(partial(_expire, [(e.key, e.seq) for e in entries]))

    async def _expire_due(self, now: float) -> bool:
        due = self._pop_due(now)
        if due:
            await self._write(partial(_expire, [(e.key, e.seq) for e in due]))
        return bool(due)

    # -- the write path ------------------------------------------------------

    def _connection(self) -> OwnerThread[_Connection]:
        if self._thread is None:
            self._check_open()
            raise RuntimeError(
                f"{self!r} is not open; use `async with SqliteStore(path) as store:`"
                " or `async with open_store('sqlite:///path.db') as store:`"
            )
        return self._thread

    async def _write(self, fn: Callable[[_Transaction], Any]) -> Any:
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

    def _on_done(self, jobs: list[Job[Any]], changes: list[Change] | None) -> None:
        """On the event loop, in commit order: apply to the view, queue delivery."""
        if not changes:
            return
        apply = self._apply
        for change in changes:
            apply(change)
        if self._hub.count:
            delivered = anyio.Event()
            self._deliveries.append((changes, delivered))
            for job in jobs:
                job.after = delivered
            wake = self._delivery_wake
            if wake is not None:
                self._delivery_wake = None
                wake.set()

    def _apply(self, change: Change) -> None:
        data = self._data
        key = change.key
        old = data.get(key)
        if old is not None and old.expires_at is not None:
            self._ttl_keys -= 1
        if type(change) is SetChange:
            data[key] = change
            if change.expires_at is not None:
                self._schedule(change.expires_at, change.seq, key)
        elif old is not None:
            del data[key]
            if type(change) is ExpireChange:
                self._expired += 1
        self._seq = change.seq

    async def _deliver_loop(self) -> None:
        deliveries = self._deliveries
        while True:
            while deliveries:
                changes, delivered = deliveries[0]
                try:
                    await self._hub.publish_all(changes)
                finally:
                    deliveries.popleft()
                    delivered.set()
            self._delivery_wake = wake = anyio.Event()
            await wake.wait()

    async def _follow_loop(self) -> None:
        """Pick up the writes of other processes while nothing is written here."""
        thread = self._connection()
        while True:
            await anyio.sleep(self._poll_interval)
            if await thread.run(_others_wrote):
                await self._write(_nothing)

    # -- lifecycle -----------------------------------------------------------

    async def _open(self, task_group: anyio.abc.TaskGroup) -> None:
        thread: OwnerThread[_Connection] = OwnerThread(
            open=partial(
                _Connection.open,
                self.path,
                self.name,
                self.durability,
                self._busy_timeout,
                self._retain,
                self._clock,
            ),
            run_group=_run_group,
            close=_Connection.close,
            on_done=self._on_done,
            name=f"pepperflow-sqlite:{self.name}",
            housekeep=_housekeep,
        )
        await thread.start()
        self._thread = thread
        seq, entries = await thread.run(_Connection.load)
        for entry in entries:
            self._apply(entry)
        self._seq = seq
        task_group.start_soon(self._deliver_loop)
        task_group.start_soon(self._follow_loop)

    async def _close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.stop()
        while self._deliveries:
            self._deliveries.popleft()[1].set()


# -- on the connection's thread --------------------------------------------------


class _Connection:
    """The connection and the live entries as this thread knows them.

    ``latest`` maps each live key to its latest SetChange (the same objects
    the event loop's view holds): it answers the version and expiry checks of
    a write without a query. It is updated only inside write transactions,
    first with what other processes committed since, so it is exact there.

    SQLite's ``PRAGMA data_version`` changes only when another connection
    commits: a write transaction that finds it unchanged since the last one
    knows nothing else was written, and skips looking for foreign changes.
    All statements go through one cursor (``execute``).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        ns: str,
        retain: int,
        clock: Callable[[], float],
    ) -> None:
        self.conn = conn
        self.execute = conn.cursor().execute
        self.ns = ns
        self.retain = retain
        self.clock = clock
        self.latest: dict[str, SetChange] = {}
        self.seq = 0  # the last seq this process has seen committed
        self.compacted_at = 0
        self.unchecked = 0  # estimated WAL pages written since the last checkpoint
        self.poll_version = -1  # data_version at the last poll (_others_wrote)
        self.write_version = -1  # data_version at the last look for foreign changes

    @classmethod
    def open(
        cls,
        path: str,
        ns: str,
        durability: Durability,
        busy_timeout: float,
        retain: int,
        clock: Callable[[], float],
    ) -> _Connection:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            mode = _enter_wal(conn, busy_timeout)
            if mode != "wal":
                raise sqlite3.OperationalError(f"{path}: cannot use WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={_SYNCHRONOUS[durability]}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # see _housekeep
            migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, ns, retain, clock)

    def close(self) -> None:
        self.conn.close()

    def load(self) -> tuple[int, list[SetChange]]:
        """Fold the changelog into ``latest``; return the seq and the live entries."""
        execute = self.execute
        execute("BEGIN")
        try:
            rows = execute(
                "SELECT data FROM pepperflow_changes WHERE ns = ? ORDER BY seq", (self.ns,)
            ).fetchall()
            # The baseline for noticing other processes' commits: taken inside
            # the read transaction, so a commit after it is seen by the first poll.
            (version,) = execute("PRAGMA data_version").fetchone()
            self.poll_version = self.write_version = version
        finally:
            execute("COMMIT")
        latest = self.latest
        seq = 0
        for (data,) in rows:
            change = _decode_change(data)
            seq = change.seq
            if type(change) is SetChange:
                latest[change.key] = change
            else:
                latest.pop(change.key, None)
        self.seq = self.compacted_at = seq
        return seq, sorted(latest.values(), key=_seq_of)

    def max_seq(self) -> int:
        (seq,) = self.execute(
            "SELECT MAX(seq) FROM pepperflow_changes WHERE ns = ?", (self.ns,)
        ).fetchone()
        return int(seq or 0)

    def read_changes(self, after: int, upto: int) -> list[Change]:
        rows = self.execute(
            "SELECT data FROM pepperflow_changes WHERE ns = ? AND seq > ? AND seq <= ?"
            " ORDER BY seq",
            (self.ns, after, upto),
        ).fetchall()
        return [_decode_change(data) for (data,) in rows]


def _enter_wal(conn: sqlite3.Connection, busy_timeout: float) -> str:
    """Switch the file to WAL, waiting up to ``busy_timeout`` for a creator.

    While another process still holds the write lock of a new file in
    rollback-journal mode, SQLite answers ``PRAGMA journal_mode=WAL`` with
    "database is locked" at once, without calling its busy handler."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return str(mode)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _seq_of(change: SetChange) -> int:
    return change.seq


class _Transaction:
    """One group transaction: the jobs' writes, the changes made, and an undo log."""

    def __init__(self, connection: _Connection) -> None:
        self.connection = connection
        self.execute = execute = connection.execute
        self.ns = connection.ns
        self.latest = latest = connection.latest
        (version,) = execute("PRAGMA data_version").fetchone()
        if version == connection.write_version:
            db_seq = connection.seq  # no other connection committed since
        else:
            db_seq = connection.max_seq()
            connection.write_version = version
        # Changes other processes committed since we last looked come first.
        self.changes: list[Change] = []
        if db_seq != connection.seq:
            for change in connection.read_changes(connection.seq, db_seq):
                if type(change) is SetChange:
                    latest[change.key] = change
                else:
                    latest.pop(change.key, None)
                self.changes.append(change)
        self.foreign = len(self.changes)
        self.base_seq = self.seq = db_seq
        self.now = connection.clock()
        self.undo: list[tuple[str, SetChange | None]] = []

    def rollback_to(self, mark: int) -> None:
        """Undo the changes to ``latest`` made after undo-log position ``mark``."""
        undo, latest = self.undo, self.latest
        while len(undo) > mark:
            key, previous = undo.pop()
            if previous is None:
                latest.pop(key, None)
            else:
                latest[key] = previous

    def live(self, key: str) -> SetChange | None:
        """The key's entry, expiring it first if it is past its deadline."""
        entry = self.latest.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.now:
            self.remove(entry, expire=True)
            return None
        return entry

    def put(
        self,
        key: str,
        value: Any,
        meta: dict[str, Any] | None,
        expires_at: float | None,
        created_at: float | None = None,
    ) -> SetChange:
        old = self.live(key)
        self.seq = seq = self.seq + 1
        now = self.now
        if created_at is None:
            created_at = now if old is None else old.created_at
        version = 1 if old is None else old.version + 1
        change = SetChange(self.ns, key, version, seq, now, value, created_at, meta, expires_at)
        self.execute(
            "INSERT INTO pepperflow_changes VALUES (?, ?, ?, 1, ?)",
            (self.ns, seq, key, _encode(change)),
        )
        self.undo.append((key, old))
        self.latest[key] = change
        self.changes.append(change)
        return change

    def remove(self, entry: SetChange, *, expire: bool) -> None:
        self.seq = seq = self.seq + 1
        kind = ExpireChange if expire else DeleteChange
        change = kind(self.ns, entry.key, entry.version, seq, self.now)
        self.execute(
            "INSERT INTO pepperflow_changes VALUES (?, ?, ?, 0, ?)",
            (self.ns, seq, entry.key, _encode(change)),
        )
        self.undo.append((entry.key, entry))
        del self.latest[entry.key]
        self.changes.append(change)


def _run_group(connection: _Connection, jobs: list[Job[Any]]) -> list[Change]:
    """Run write jobs in one transaction, each in a savepoint; commit once."""
    execute = connection.execute
    execute("BEGIN IMMEDIATE")
    txn = None
    try:
        txn = _Transaction(connection)
        if len(jobs) == 1:  # no savepoint needed: the transaction is the job's
            job = jobs[0]
            try:
                job.result = job.fn(txn)
            except Exception as exc:
                job.error = exc
                execute("ROLLBACK")
                txn.rollback_to(0)
                connection.seq = txn.base_seq
                return txn.changes[: txn.foreign]
        else:
            for job in jobs:
                mark_seq, mark_len, mark_undo = txn.seq, len(txn.changes), len(txn.undo)
                execute("SAVEPOINT job")
                try:
                    job.result = job.fn(txn)
                except Exception as exc:
                    execute("ROLLBACK TO job")
                    txn.rollback_to(mark_undo)
                    txn.seq = mark_seq
                    del txn.changes[mark_len:]
                    job.error = exc
                execute("RELEASE job")
        execute("COMMIT")
    except BaseException:
        if connection.conn.in_transaction:
            execute("ROLLBACK")
        if txn is not None:
            txn.rollback_to(0)
            connection.seq = txn.base_seq
            del txn.changes[txn.foreign :]
        raise
    connection.seq = txn.seq
    connection.unchecked += 1 + len(txn.changes) // _ROWS_PER_PAGE
    return txn.changes


def _housekeep(connection: _Connection, idle: bool) -> None:
    """Run after the writers got their results: compaction every ``retain``
    changes, and a WAL checkpoint (SQLite's own is off) every
    :data:`_CHECKPOINT_BUSY` pages, or from :data:`_CHECKPOINT_IDLE` pages
    once the store has been idle for a moment."""
    if connection.retain and connection.seq - connection.compacted_at >= connection.retain:
        try:
            _compact(connection)
        except sqlite3.Error:  # retried at the next bound
            logger.exception("pepperflow: changelog compaction of %r failed", connection.ns)
    if connection.unchecked >= (_CHECKPOINT_IDLE if idle else _CHECKPOINT_BUSY):
        connection.unchecked = 0
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # retried at the next bound
            logger.exception("pepperflow: WAL checkpoint of %r failed", connection.ns)


def _compact(connection: _Connection) -> int:
    """Drop rows older than the last ``retain`` that are not the latest of their
    key, and deletes/expiries older than that (nothing folds to them); the
    namespace's newest row always stays, so ``seq`` never goes back."""
    bound = min(connection.seq - connection.retain, connection.max_seq() - 1)
    cursor = connection.execute(
        "DELETE FROM pepperflow_changes WHERE ns = ?1 AND seq <= ?2 AND (is_set = 0 OR seq"
        " NOT IN (SELECT MAX(seq) FROM pepperflow_changes WHERE ns = ?1 GROUP BY key))",
        (connection.ns, bound),
    )
    connection.compacted_at = connection.seq
    return cursor.rowcount


def _others_wrote(connection: _Connection) -> bool:
    (version,) = connection.execute("PRAGMA data_version").fetchone()
    changed = connection.poll_version not in (-1, version)
    connection.poll_version = version
    return changed


def _nothing(txn: _Transaction) -> None:
    return None


def _set(
    key: str,
    value: Any,
    meta: dict[str, Any] | None,
    seconds: float | None,
    if_version: int | None,
    txn: _Transaction,
) -> int:
    if if_version is not None:
        entry = txn.live(key)
        actual = 0 if entry is None else entry.version
        if actual != if_version:
            raise VersionConflict(txn.ns, key, if_version, actual)
    expires_at = None if seconds is None else txn.now + seconds
    return txn.put(key, value, meta, expires_at).version


def _set_many(
    pairs: list[tuple[str, Any]],
    meta: dict[str, Any] | None,
    seconds: float | None,
    txn: _Transaction,
) -> None:
    expires_at = None if seconds is None else txn.now + seconds
    for key, value in pairs:
        txn.put(key, value, meta, expires_at)


def _delete(key: str, if_version: int | None, txn: _Transaction) -> bool:
    entry = txn.live(key)
    if if_version is not None:
        actual = 0 if entry is None else entry.version
        if actual != if_version:
            raise VersionConflict(txn.ns, key, if_version, actual)
    if entry is None:
        return False
    txn.remove(entry, expire=False)
    return True


def _clear(prefix: str, match: Callable[[str], bool], txn: _Transaction) -> int:
    deleted = 0
    for key in sorted(k for k in txn.latest if k.startswith(prefix) and match(k)):
        entry = txn.live(key)
        if entry is not None:
            txn.remove(entry, expire=False)
            deleted += 1
    return deleted


def _restore(snapshot: Snapshot, txn: _Transaction) -> None:
    wanted = {
        item.key: item
        for item in snapshot.entries
        if item.expires_at is None or item.expires_at > txn.now
    }
    for key in [key for key in txn.latest if key not in wanted]:
        entry = txn.live(key)
        if entry is not None:
            txn.remove(entry, expire=False)
    for key, item in wanted.items():
        meta = None if item.metadata is None else dict(item.metadata)
        txn.put(key, item.value, meta, item.expires_at, item.created_at)


def _expire(items: list[tuple[str, int]], txn: _Transaction) -> None:
    for key, seq in items:
        entry = txn.latest.get(key)
        if (
            entry is not None
            and entry.seq == seq
            and entry.expires_at is not None
            and entry.expires_at <= txn.now
        ):
            txn.remove(entry, expire=True)
