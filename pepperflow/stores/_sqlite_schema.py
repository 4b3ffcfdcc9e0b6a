"""The SQLite file layout of SqliteStore, and its migrations.

Tables (every row is tagged with its store's namespace, so one file holds
many stores):

``pepperflow_namespaces(ns, seq)``
    the last committed ``seq`` of each namespace.
``pepperflow_entries(ns, key, version, seq, created_at, expires_at, data)``
    the live entries: ``data`` is the entry's latest ``SetChange`` as
    msgpack; ``expires_at`` is indexed for the expiry sweep.
``pepperflow_changes(ns, seq, key, data)``
    the changelog: every change as msgpack, by ``seq``; indexed by key for
    compaction.

The schema version is SQLite's ``PRAGMA user_version``. :data:`MIGRATIONS`
maps each version to the statements that bring a file from the version
before it; opening a file applies the missing ones in one transaction, and a
file from a newer pepperflow is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

from .._errors import PepperflowError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "migrate"]

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE IF NOT EXISTS pepperflow_namespaces (
            ns TEXT PRIMARY KEY,
            seq INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS pepperflow_entries (
            ns TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL,
            data BLOB NOT NULL,
            PRIMARY KEY (ns, key)
        ) WITHOUT ROWID""",
        """CREATE INDEX IF NOT EXISTS pepperflow_entries_expiry
            ON pepperflow_entries (ns, expires_at) WHERE expires_at IS NOT NULL""",
        """CREATE TABLE IF NOT EXISTS pepperflow_changes (
            ns TEXT NOT NULL,
            seq INTEGER NOT NULL,
            key TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (ns, seq)
        ) WITHOUT ROWID""",
        """CREATE INDEX IF NOT EXISTS pepperflow_changes_by_key
            ON pepperflow_changes (ns, key, seq)""",
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
