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
"""

from __future__ import annotations

import sqlite3

from ..._errors import PepperflowError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "migrate"]

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


class SchemaTooNew(PepperflowError, RuntimeError):
    """The file was written by a newer pepperflow (its schema version is higher)."""


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; return the version it had."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (found,) = conn.execute("PRAGMA user_version").fetchone()
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{path}: written by a newer pepperflow (schema version {found}; this"
                f" pepperflow reads up to {SCHEMA_VERSION}); upgrade pepperflow to open it"
            )
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
