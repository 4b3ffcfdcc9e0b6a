"""The SQLite file layout of SqliteStore, and its migrations.

The changelog holds the state, and a table beside it the sinks' marks; every
row is tagged with its store's namespace, so one file holds many stores:

``pepperflow_changes(ns, seq, key, is_set, data)``
    every change as msgpack (``data``), by ``seq``; ``is_set`` tells sets
    from deletes and expiries. The state is the fold of these rows:
    compaction keeps the latest change of every key (and the newest row of
    the namespace, so ``seq`` never goes back), so folding what remains
    still gives the state.
``pepperflow_marks(ns, name, data)``
    the marks of the sinks that apply another store's changes here
    (:mod:`pepperflow.stores._apply`), each written in the transaction of
    the changes it marks.

The schema version is SQLite's ``PRAGMA user_version``. :data:`MIGRATIONS`
maps each version to the statements that bring a file from the version
before it; opening a file applies the missing ones in one transaction, and a
file from a newer pepperflow is refused rather than guessed at.

A file that is not a pepperflow store is refused too (:func:`check`, run
before anything is written to it): one with a ``user_version`` of its own
and tables but no changelog (another application's schema), or whose
``pepperflow_changes`` lacks the changelog's columns. A file with
``user_version`` 0 is new, or another application's that does not use it:
the changelog goes beside its tables.
"""

from __future__ import annotations

import sqlite3

from ..._errors import PepperflowError, StoreUnavailable

__all__ = ["COLUMNS", "MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "check", "migrate"]

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE IF NOT EXISTS pepperflow_changes (
            ns TEXT NOT NULL,
            seq INTEGER NOT NULL,
            key TEXT NOT NULL,
            is_set INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (ns, seq)
        ) WITHOUT ROWID""",
    ],
    2: [
        """CREATE TABLE IF NOT EXISTS pepperflow_marks (
            ns TEXT NOT NULL,
            name TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (ns, name)
        ) WITHOUT ROWID""",
    ],
}

SCHEMA_VERSION = max(MIGRATIONS)
#: The changelog's columns, which every schema version has.
COLUMNS = ("ns", "seq", "key", "is_set", "data")


class SchemaTooNew(PepperflowError, RuntimeError):
    """The file was written by a newer pepperflow (its schema version is higher)."""


def check(conn: sqlite3.Connection, path: str) -> int:
    """Refuse a file that is not (and cannot become) a store; return its schema version.

    Only reads, so it may run before anything is written to the file.

    Raises:
        SchemaTooNew: the file is a newer pepperflow's.
        StoreUnavailable: the file holds another application's schema, or a
            ``pepperflow_changes`` table that is not the changelog.
    """
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    ours = not tables or any(name.startswith("pepperflow_") for name in tables)
    if found > SCHEMA_VERSION and ours:
        raise SchemaTooNew(
            f"{path}: written by a newer pepperflow (schema version {found}; this"
            f" pepperflow reads up to {SCHEMA_VERSION}); upgrade pepperflow to open it"
        )
    if found and "pepperflow_changes" not in tables:
        raise StoreUnavailable(
            f"SQLite file {path!r}: not a pepperflow store: it has user_version {found} and"
            f" the tables {sorted(tables)} but no pepperflow changelog (another application's"
            " schema?); give the store a file of its own"
        )
    if "pepperflow_changes" in tables:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(pepperflow_changes)")}
        if not columns.issuperset(COLUMNS):
            raise StoreUnavailable(
                f"SQLite file {path!r}: not a pepperflow store, or corrupt: its table"
                f" pepperflow_changes has the columns {sorted(columns)}, not those of"
                f" pepperflow's changelog {list(COLUMNS)}; give the store a file of its own"
            )
    return int(found)


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; return the version it had.

    Raises:
        SchemaTooNew, StoreUnavailable: as :func:`check`, which it runs first.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = check(conn, path)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if found != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(found)
