"""WAL checkpoints on a connection and a thread of their own, beside the writes.

A checkpoint copies the pages the commits wrote into the write-ahead log
back into the database file, and syncs both (SQLite's automatic one is
off: :func:`~._connection.housekeep` decides when one is due). Run on the
store's connection thread, it held up the next transaction for as long as
it took: the copy and the two ``fsync`` calls, 0.5-1 µs per row written,
in bursts of tens of milliseconds. A :class:`Checkpointer` runs it on a
second connection in a thread of its own instead, concurrently with the
writes: a passive checkpoint takes no write lock, and SQLite's work and
the syncs run with the interpreter lock released.

The log starts over (so it stays bounded) only once a checkpoint copied
every frame in it before the next write begins, which one running beside a
steady stream of writes never does. So the store's thread still
checkpoints between two writes at the log's bound (and when the store is
idle), as it did every checkpoint before; it finds most of the log copied
already, and copies the rest.

Nothing changes for readers and writers: a checkpoint moves no commit
(another connection's checkpoint leaves ``PRAGMA data_version`` as it is),
and the last connection to close still checkpoints the whole log and
removes it. The thread starts at the first request (a store that writes
little never has it) and ends when the store's connection closes
(:meth:`Checkpointer.close`, before that connection's own close).
"""

from __future__ import annotations

import logging
import pathlib
import sqlite3
import threading

__all__ = ["Checkpointer"]

logger = logging.getLogger("pepperflow")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``path`` (absolute) when asked (:meth:`request`).

    ``synchronous`` is the store's ``PRAGMA synchronous`` (a checkpoint syncs
    the log and the file as it says); ``name`` names the thread and the log
    records (the store's namespace). A failed checkpoint (or a file it cannot
    open) is logged and counts as a run; the next request tries again. The
    methods are called from the store's connection thread; :attr:`busy` and
    :attr:`asked` are also read on the event loop (whether an inline write
    leaves housekeeping due: :func:`~._connection.housekeep_due`).
    """

    def __init__(self, path: str, synchronous: str, name: str) -> None:
        self._path = path
        self._synchronous = synchronous
        self._name = name
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None  # the checkpoint thread's
        self._done = threading.Event()  # no run is asked for or on
        self._done.set()
        #: The caller's count of pages written when it asked for the last run.
        self.asked = 0

    @property
    def busy(self) -> bool:
        """A run was asked for and has not finished."""
        return not self._done.is_set()

    def wait(self) -> None:
        """Return once no run is on (after the one on, if any)."""
        self._done.wait()

    def request(self, pages: int) -> None:
        """Have a checkpoint run now, beside the writes (starting the thread the
        first time); ``pages`` (the caller's count of pages written) is kept as
        :attr:`asked`. Call it only when not :attr:`busy`."""
        self.asked = pages
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._main, name=f"pepperflow-sqlite-checkpoint:{self._name}", daemon=True
            )
            self._thread.start()
        self._done.clear()
        self._due.set()

    def close(self) -> None:
        """Stop the thread, after the checkpoint it runs (if any); idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._due.set()
        thread.join()

    def _main(self) -> None:
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                self._checkpoint()
                self._done.set()
        finally:
            self._done.set()  # nobody waits for a stopped thread
            if self._conn is not None:
                self._conn.close()

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # tried again at the next request
            logger.exception("pepperflow: WAL checkpoint of %r failed", self._name)

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: a file removed meanwhile is not made anew (an empty one) by the checkpoints.
        uri = pathlib.Path(self._path).as_uri() + "?mode=rw"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn
