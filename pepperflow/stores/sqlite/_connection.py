"""The thread side of SqliteStore: its sqlite3 connection and what runs on it alone.

:class:`Connection` opens the file (WAL mode, the durability asked for, the
schema's migrations), loads the state from the changelog, reads the
changelog, and keeps the bookkeeping of what this process has seen
committed. Every method runs on the connection's thread
(:class:`~._thread.OwnerThread`); the write transactions are in
:mod:`._transaction`, the housekeeping between them (:func:`housekeep`:
compaction (:mod:`._compaction`) and asking for WAL checkpoints, which
:mod:`._checkpoint` runs beside the writes) here.

The connection holds no copy of the state: :meth:`Connection.load` folds the
changelog into the mapping that the event loop's view then owns, and keeps
a read-only reference to it for the write transactions (see
:mod:`.store` for who touches it when).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from typing import Any

from ..._errors import StoreUnavailable, UndecodableValue
from ...streams.events import Change, SetChange, apply
from ._checkpoint import Checkpointer
from ._compaction import StaleRows, compact, note, tracked
from ._faults import broken_row, unopenable
from ._options import SYNCHRONOUS, Options
from ._rows import BrokenRow, DecodeChange, decode_rows
from ._schema import check, migrate
from ._thread import Contended

__all__ = ["Connection", "housekeep", "housekeep_due", "others_wrote"]

logger = logging.getLogger("pepperflow")

# WAL checkpoints are asked for by the connection's thread between writes (see
# housekeep) and run beside them (._checkpoint), counted in estimated pages:
# one per commit, plus one per ROWS_PER_PAGE changes. SQLite's automatic
# checkpoint would run inside the commit of whichever writer crossed its bound
# (1,000 pages), stalling it.
ROWS_PER_PAGE = 32
_CHECKPOINT_BUSY = 1000
_CHECKPOINT_STEP = 250
_LAST_STEP = _CHECKPOINT_BUSY - _CHECKPOINT_STEP
_CHECKPOINT_IDLE = 100
#: Changelog rows read, decoded and folded at a time when the store opens.
LOAD_CHUNK = 10_000
_CHANGELOG = "SELECT data FROM pepperflow_changes WHERE ns = ? ORDER BY seq"
_CHANGELOG_AFTER = (
    "SELECT key, data FROM pepperflow_changes WHERE ns = ? AND seq > ? ORDER BY seq LIMIT ?"
)


class Connection:
    """One store's connection to its file, and what this process has seen of it.

    ``seq`` is the last seq this process has seen committed (its own writes
    and those of other processes it has read). SQLite's ``PRAGMA
    data_version`` changes only when another connection commits: a write
    transaction that finds it unchanged since the last one knows nothing
    else was written, and skips looking for foreign changes. All statements
    go through one cursor (``execute``, ``executemany``). Rows are read
    with ``decode``, the store's codec (see :mod:`._rows`).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        ns: str,
        retain: int,
        clock: Callable[[], float],
        decode: DecodeChange,
        checkpointer: Checkpointer,
        busy_timeout: float = 5.0,
    ) -> None:
        self.conn = conn
        self.path = path
        self.decode = decode
        cursor = conn.cursor()
        self.execute = cursor.execute
        self.executemany = cursor.executemany
        self.ns = ns
        self.retain = retain
        self.clock = clock
        #: The state (key -> latest SetChange), owned by the event loop's view;
        #: read here only by write transactions, while the loop leaves it alone.
        self.state: Mapping[str, SetChange[Any, Any]] = {}
        self.seq = 0
        self.compacted_at = 0
        #: The rows this process has seen go stale (``None``: compaction scans).
        self.stale: StaleRows | None = tracked(retain)
        self.unchecked = 0  # estimated WAL pages written since the last checkpoint
        #: Runs the checkpoints :func:`housekeep` asks for, beside the writes.
        self.checkpointer = checkpointer
        self.poll_version = -1  # data_version at the last poll (others_wrote)
        self.write_version = -1  # data_version at the last look for foreign changes
        self.busy_ms = round(busy_timeout * 1000)
        self.patient = True  # whether a write waits busy_ms for another process's lock

    @classmethod
    def open(
        cls, options: Options, ns: str, clock: Callable[[], float], decode: DecodeChange
    ) -> Connection:
        """Open the file, switched to WAL and migrated.

        Raises:
            StoreUnavailable: the file cannot be opened, or is not a store
                (see :mod:`._faults` and :func:`._schema.check`); nothing
                was written to it.
            SchemaTooNew: the file is a newer pepperflow's.
        """
        try:
            conn = _connect(options)
        except StoreUnavailable:  # a ConnectionError, so an OSError: said already
            raise
        except (OSError, sqlite3.Error) as error:
            raise unopenable(options.path, error) from error
        # The path as it resolves now: the checkpoints' connection opens later.
        path = os.path.abspath(options.path)
        checkpointer = Checkpointer(path, SYNCHRONOUS[options.durability], ns)
        busy = options.busy_timeout
        return cls(conn, options.path, ns, options.retain, clock, decode, checkpointer, busy)

    def close(self) -> None:
        """Close the file (the checkpoints' connection first, then this one,
        which checkpoints the whole log if it is the file's last)."""
        try:
            self.checkpointer.close()
        finally:
            self.conn.close()

    def load(
        self, adopt: Callable[[dict[str, SetChange[Any, Any]]], dict[str, SetChange[Any, Any]]]
    ) -> tuple[int, dict[str, SetChange[Any, Any]]]:
        """Fold the changelog into a new state; return the seq and the state.

        ``adopt(folded)`` gives the mapping the view keeps (the folded dict
        itself, or an indexed copy of it). The caller (the event loop's
        view) owns the state from then on; the connection keeps it as
        :attr:`state` for the write transactions.

        Raises:
            StoreUnavailable: the file is corrupt (a broken row, a damaged page).
        """
        state: dict[str, SetChange[Any, Any]] = {}
        try:
            self.execute("BEGIN")
            try:
                seq = self._fold_changelog(state)
            finally:  # a read: ROLLBACK ends it, even after an error (a failed
                if self.conn.in_transaction:  # COMMIT would leave the -wal behind)
                    self.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise unopenable(self.path, error) from error
        self.seq = self.compacted_at = seq
        self.state = state = adopt(state)
        return seq, state

    def _fold_changelog(self, state: dict[str, SetChange[Any, Any]]) -> int:
        """Fold the namespace's changelog into ``state`` inside the read
        transaction; return its last seq (0: empty).

        The rows are read, decoded and folded :data:`LOAD_CHUNK` at a time:
        no list of every row, nor of every change, is ever made, which
        nearly halves the memory that opening a large file takes.
        """
        stale = self.stale
        with closing(self.conn.execute(_CHANGELOG, (self.ns,))) as rows:
            # The baseline for noticing other processes' commits: taken inside
            # the read transaction (the SELECT began it), so a commit after it
            # is seen by the first poll.
            (version,) = self.execute("PRAGMA data_version").fetchone()
            self.poll_version = self.write_version = version
            seq = 0
            while chunk := rows.fetchmany(LOAD_CHUNK):
                changes = self._decode_chunk(chunk, seq)
                for change in changes:
                    if stale is not None:
                        note(stale.seqs, state, change)
                    apply(state, change)
                seq = changes[-1].seq
        return seq

    def max_seq(self) -> int:
        (seq,) = self.execute(
            "SELECT MAX(seq) FROM pepperflow_changes WHERE ns = ?", (self.ns,)
        ).fetchone()
        return int(seq or 0)

    def read_changes(self, after: int, upto: int) -> list[Change]:
        """The changelog's changes with ``after < seq <= upto``, in order."""
        rows = self.execute(
            "SELECT key, data FROM pepperflow_changes WHERE ns = ? AND seq > ? AND seq <= ?"
            " ORDER BY seq",
            (self.ns, after, upto),
        ).fetchall()
        return self._decode(rows)

    def _decode_chunk(self, chunk: list[tuple[bytes]], after: int) -> list[Change]:
        """The changes of ``chunk``, the data of the changelog's next rows
        after seq ``after``: those rows read again with their keys when one
        does not decode, so that :meth:`_decode` names its key (the keys are
        in the data, and reading them twice made opening slower)."""
        decode = self.decode
        try:
            return [decode(data) for (data,) in chunk]
        except (UndecodableValue, TypeError):
            rows = self.execute(_CHANGELOG_AFTER, (self.ns, after, len(chunk))).fetchall()
            return self._decode(rows)

    def _decode(self, rows: list[tuple[str, bytes]]) -> list[Change]:
        """The changes of changelog rows; a broken row raises StoreUnavailable naming it."""
        try:
            return decode_rows(self.decode, rows)
        except BrokenRow as error:
            raise broken_row(self.path, self.ns, error.key, error.reason) from error

    def read_mark(self, name: str) -> bytes | None:
        """The stored mark ``name`` of this namespace (:mod:`pepperflow.stores._apply`)."""
        row = self.execute(
            "SELECT data FROM pepperflow_marks WHERE ns = ? AND name = ?", (self.ns, name)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def wait_for_lock(self, patient: bool) -> None:
        """Have the next write wait ``busy_timeout`` for another process's
        write lock (on the thread), or fail at once (on the event loop)."""
        if patient is not self.patient:
            self.execute(f"PRAGMA busy_timeout = {self.busy_ms if patient else 0}")
            self.patient = patient

    def foreign_changes(self, inline: bool = False) -> list[Change]:
        """Inside a write transaction: what other connections committed since
        this one last looked (empty without a query when nothing was).

        Raises:
            Contended: ``inline`` and another connection committed (the
                thread reads what it wrote, however much).
        """
        (version,) = self.execute("PRAGMA data_version").fetchone()
        if version == self.write_version:
            return []
        if inline:
            raise Contended
        self.write_version = version
        db_seq = self.max_seq()
        if db_seq == self.seq:
            return []
        return self.read_changes(self.seq, db_seq)


def _connect(options: Options) -> sqlite3.Connection:
    """A connection to the file, switched to WAL and migrated; nothing is
    written to a file :func:`._schema.check` refuses."""
    path, busy_timeout = options.path, options.busy_timeout
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        check(conn, path)  # before WAL mode, which writes the file's header
        mode = _enter_wal(conn, busy_timeout)
        if mode != "wal":
            raise sqlite3.OperationalError(f"{path}: cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[options.durability]}")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see housekeep
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


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


def housekeep(connection: Connection, idle: bool) -> None:
    """Run after the writers got their results: compaction every ``retain``
    changes, and WAL checkpoints (SQLite's own is off).

    Every :data:`_CHECKPOINT_STEP` pages written, the
    :class:`~._checkpoint.Checkpointer` copies the log into the file beside
    the next writes. Only a checkpoint that copied the whole log before the
    next write begins lets that write start the log over, so this thread
    still checkpoints between two writes, finding most of the log copied
    already: at :data:`_CHECKPOINT_BUSY` pages (the log's bound; the
    checkpointer's last run is asked for a step before, so that it is
    over), or from :data:`_CHECKPOINT_IDLE` once the store has been idle for
    a moment.
    """
    if _compaction_due(connection):
        try:
            compact(connection)
        except sqlite3.Error:  # retried at the next bound
            logger.exception("pepperflow: changelog compaction of %r failed", connection.ns)
    checkpointer, pages = connection.checkpointer, connection.unchecked
    if pages >= (_CHECKPOINT_IDLE if idle else _CHECKPOINT_BUSY):
        checkpointer.wait()  # (a checkpoint beside another copies nothing)
        connection.unchecked = checkpointer.asked = 0
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # retried at the next bound
            logger.exception("pepperflow: WAL checkpoint of %r failed", connection.ns)
    elif _step_due(connection):
        checkpointer.request(pages)


def housekeep_due(connection: Connection) -> bool:
    """Whether :func:`housekeep` would compact, checkpoint or ask the
    checkpointer for a run (not idle). Called on the event loop too (by
    :meth:`~._thread.OwnerThread.run_inline`): it only reads."""
    return (
        connection.unchecked >= _CHECKPOINT_BUSY
        or _compaction_due(connection)
        or _step_due(connection)
    )


def _step_due(connection: Connection) -> bool:
    """Whether the checkpointer's next run beside the writes is due (and it is free)."""
    checkpointer, pages = connection.checkpointer, connection.unchecked
    return checkpointer.asked + _CHECKPOINT_STEP <= pages <= _LAST_STEP and not checkpointer.busy


def _compaction_due(connection: Connection) -> bool:
    """Whether ``retain`` changes were committed since the last compaction."""
    return bool(connection.retain) and (
        connection.seq - connection.compacted_at >= connection.retain
    )


def others_wrote(connection: Connection) -> bool:
    """Whether another connection committed since the last call (the idle poll)."""
    (version,) = connection.execute("PRAGMA data_version").fetchone()
    changed = connection.poll_version not in (-1, version)
    connection.poll_version = version
    return changed
