"""Group transactions: the write jobs of one commit, on the connection's thread.

:func:`run_group` runs a group of write jobs (:mod:`._jobs`) in one SQLite
transaction and commits once (group commit). A job sees the state through
the transaction's :class:`~._overlay.Overlay`: the store's state (read only,
see :mod:`.store`), the changes other processes committed since this one
last looked (read first, inside the transaction, so version checks are
exact across processes), and the transaction's own writes.

Jobs run no SQL: their changelog rows are gathered and inserted just
before the commit, :data:`ROWS_PER_INSERT` rows per ``INSERT`` statement
(:func:`_insert`). So a job that raises has written
nothing to the file, and dropping its rows and its overlay (each job of a
group has one of its own on the transaction's) undoes it, with no
savepoint. If the insert or the commit fails, the whole transaction rolls
back and every job of the group gets the error.

Nothing here changes the store's state: the group returns its changes, in
``seq`` order, and the event loop folds them into the state after the
commit.
"""

from __future__ import annotations

import functools
import sqlite3
from itertools import chain
from typing import Any

import msgspec

from ...streams.events import Change, DeleteChange, ExpireChange, SetChange, apply
from ._compaction import note
from ._connection import ROWS_PER_PAGE, Connection
from ._overlay import BELOW, Overlay
from ._thread import Contended, Job

__all__ = ["ROWS_PER_INSERT", "Transaction", "run_group"]

_encode = msgspec.msgpack.Encoder().encode
#: Changelog rows per INSERT: 199 rows of 5 values stay within the bound
#: on a statement's variables of every SQLite version (999). One statement
#: of many rows costs about half of ``executemany``'s step per row, and the
#: sqlite3 module lets go of the interpreter lock once per statement rather
#: than once per row (so the event loop's thread is not made to hand it
#: back a thousand times a commit).
ROWS_PER_INSERT = 199
_MARK = "INSERT OR REPLACE INTO pepperflow_marks VALUES (?, ?, ?)"


class Transaction:
    """One group transaction: what its jobs see (``view``) and what they wrote.

    ``changes`` starts with the ``foreign`` changes other processes committed
    since this process last looked; the jobs' changes follow, each with its
    changelog row in ``rows``; ``marks`` holds the sinks' marks to write
    with them (:mod:`pepperflow.stores._apply`); ``stale`` the seqs of the
    rows they made stale (:mod:`._compaction`), the foreign changes' first
    (``foreign_stale`` of them).
    """

    def __init__(self, connection: Connection, inline: bool = False) -> None:
        self.ns = connection.ns
        self.view = Overlay(connection.state)
        self.changes: list[Change] = connection.foreign_changes(inline)
        self.stale: list[int] = []
        for change in self.changes:
            note(self.stale, self.view, change)
            apply(self.view, change)
        self.foreign = len(self.changes)
        self.foreign_stale = len(self.stale)
        self.base_seq = self.seq = self.changes[-1].seq if self.changes else connection.seq
        self.rows: list[tuple[str, int, str, int, bytes]] = []
        self.marks: list[tuple[str, str, bytes]] = []
        self.now = connection.clock()

    def live(self, key: str) -> SetChange[Any, Any] | None:
        """The key's entry, expiring it first if it is past its deadline."""
        entry: SetChange[Any, Any] | None = self.view.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.now:
            self.remove(entry, expire=True)
            return None
        return entry

    def put(
        self,
        key: str,
        value: Any,
        meta: Any,
        expires_at: float | None,
        created_at: float | None = None,
    ) -> SetChange[Any, Any]:
        """Write a set of ``key`` (after expiring its old entry if due)."""
        # The hot path of set, set_many and apply_changes: live(), the
        # overlay's __setitem__ and _compaction.note inlined.
        view, now = self.view, self.now
        old: SetChange[Any, Any] | None = view.get(key)
        if old is not None and old.expires_at is not None and old.expires_at <= now:
            self.remove(old, expire=True)
            old = None
        self.seq = seq = self.seq + 1
        if old is None:
            version = 1
            if created_at is None:
                created_at = now
        else:
            version = old.version + 1
            if created_at is None:
                created_at = old.created_at
            self.stale.append(old.seq)  # the set this one replaces
        ns = self.ns
        change = SetChange(ns, key, version, seq, now, value, created_at, meta, expires_at)
        self.rows.append((ns, seq, key, 1, _encode(change)))
        view.top[key] = change
        self.changes.append(change)
        return change

    def copy(self, changes: list[Change]) -> None:
        """Write another store's ``changes`` (one per key) in order: a set whose
        deadline has not passed as a set of its value, metadata, deadline and
        ``created_at``; anything else as the removal of its key, if present
        (``apply_changes``: :mod:`pepperflow.stores._apply`)."""
        # A write-behind's hot path: put() inlined (the overlay's get too) for
        # a set of a key that has not expired here; the rest through put().
        view, now, ns = self.view, self.now, self.ns
        top, below = view.top, view.below
        rows, added, stale = self.rows.append, self.changes.append, self.stale.append
        for change in changes:
            key = change.key
            if not isinstance(change, SetChange) or (
                change.expires_at is not None and change.expires_at <= now
            ):  # a removal
                entry = self.live(key)
                if entry is not None:
                    self.remove(entry, expire=False)
                continue
            value, meta, expires_at = change.value, change.metadata, change.expires_at
            old: SetChange[Any, Any] | None = top.get(key, BELOW)
            if old is BELOW:
                old = below.get(key)
            if old is not None and old.expires_at is not None and old.expires_at <= now:
                self.put(key, value, meta, expires_at, change.created_at)  # expires it first
                continue
            self.seq = seq = self.seq + 1
            if old is None:
                version = 1
            else:
                version = old.version + 1
                stale(old.seq)
            new = SetChange(ns, key, version, seq, now, value, change.created_at, meta, expires_at)
            rows((ns, seq, key, 1, _encode(new)))
            top[key] = new
            added(new)

    def remove(self, entry: SetChange[Any, Any], *, expire: bool) -> None:
        """Write the delete (or the expiry) of ``entry``."""
        self.seq = seq = self.seq + 1
        kind = ExpireChange if expire else DeleteChange
        change = kind(self.ns, entry.key, entry.version, seq, self.now)
        self.rows.append((self.ns, seq, entry.key, 0, _encode(change)))
        self.stale += (entry.seq, seq)  # the set removed, and the removal itself
        apply(self.view, change)
        self.changes.append(change)

    def run(self, job: Job[Any]) -> bool:
        """Run ``job`` alone in the transaction; whether it succeeded (else
        its error is kept, and the transaction must roll back)."""
        try:
            job.result = job.fn(self)
        except Exception as exc:
            job.error = exc
            return False
        return True

    def run_among_others(self, job: Job[Any]) -> None:
        """Run ``job`` on an overlay of its own; if it raises, drop what it
        wrote and keep its error, and the other jobs go on."""
        outer = self.view
        mark = (self.seq, len(self.changes), len(self.rows), len(self.marks), len(self.stale))
        self.view = Overlay(outer)
        try:
            job.result = job.fn(self)
        except Exception as exc:
            job.error = exc
            self.seq, changes, rows, marks, stale = mark
            del self.changes[changes:], self.rows[rows:], self.marks[marks:], self.stale[stale:]
        else:
            self.view.merge()
        finally:
            self.view = outer


def run_group(
    connection: Connection, jobs: list[Job[Any]], *, inline: bool = False
) -> list[Change]:
    """Run write jobs in one transaction; return the changes committed, in order.

    If a lone job raises, the transaction rolls back and only the other
    processes' changes it read are returned. If the transaction itself
    fails, this raises and returns nothing: the next transaction reads the
    foreign changes again.

    ``inline`` (on the event loop's thread): never wait, and read nothing
    another process wrote; raise :class:`~._thread.Contended`, having
    written nothing, when that would be needed.
    """
    execute = connection.execute
    _begin(connection, inline)
    try:
        txn = Transaction(connection, inline)
        if len(jobs) == 1:
            committed = txn.run(jobs[0])
        else:
            for job in jobs:
                txn.run_among_others(job)
            committed = True
        if committed:
            _insert(connection, txn.rows)
            if txn.marks:
                connection.executemany(_MARK, txn.marks)
        execute("COMMIT" if committed else "ROLLBACK")
    except BaseException:
        if connection.conn.in_transaction:
            execute("ROLLBACK")
        connection.write_version = -1  # look for the foreign changes again
        raise
    stale = connection.stale
    if not committed:
        connection.seq = txn.base_seq
        if stale is not None:
            stale.extend(txn.stale[: txn.foreign_stale])
        return txn.changes[: txn.foreign]
    if stale is not None:
        stale.extend(txn.stale)
    connection.seq = txn.seq
    connection.unchecked += 1 + len(txn.rows) // ROWS_PER_PAGE
    return txn.changes


def _begin(connection: Connection, inline: bool) -> None:
    """Start the write transaction (on the loop: at once, or :class:`Contended`)."""
    connection.wait_for_lock(not inline)
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        if inline:  # another process holds the lock (or the file must be looked at)
            raise Contended from None
        raise


def _insert(connection: Connection, rows: list[tuple[str, int, str, int, bytes]]) -> None:
    """Insert the changelog ``rows``, :data:`ROWS_PER_INSERT` per statement."""
    execute = connection.execute
    if len(rows) == 1:  # a lone set
        execute(_insert_sql(1), rows[0])
        return
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        execute(_insert_sql(len(chunk)), list(chain.from_iterable(chunk)))


@functools.cache
def _insert_sql(rows: int) -> str:
    """The INSERT statement of ``rows`` changelog rows."""
    return "INSERT INTO pepperflow_changes VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * rows)
