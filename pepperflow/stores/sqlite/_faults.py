"""Why a SQLite file cannot serve as a store, said as StoreUnavailable naming the file.

Opening a store (:meth:`._connection.Connection.open`) and reading its
changelog meet files that are not what they should be: a directory, a file
this process may not read and write, a file of another kind or another
application, a truncated or otherwise corrupt database, a changelog row
that is not a change. Each becomes a :class:`~pepperflow.StoreUnavailable`
whose message names the file, what is wrong with it and what to do, in
place of the raw ``sqlite3``, ``OSError`` or ``msgspec`` error (kept as its
``__cause__``).
"""

from __future__ import annotations

import os
import sqlite3

from ..._errors import StoreUnavailable

__all__ = ["broken_row", "unopenable"]

_MOVE_AWAY = "restore it from a backup, or move it away to start an empty store at this path"


def unopenable(path: str, error: OSError | sqlite3.Error) -> StoreUnavailable:
    """The error to raise for ``error``, met while opening or reading the file at ``path``."""
    return StoreUnavailable(f"SQLite file {path!r}: {_reason(path, error)}")


def broken_row(path: str, ns: str, key: str, reason: str) -> StoreUnavailable:
    """The error to raise for a changelog row of ``key`` that is not a change."""
    return StoreUnavailable(
        f"SQLite file {path!r}: the changelog of store {ns!r} holds a row of key {key!r}"
        f" that is not a pepperflow change ({reason}): the file is corrupt; {_MOVE_AWAY}"
        f" (or delete that key's rows: DELETE FROM pepperflow_changes WHERE ns = '{ns}'"
        f" AND key = '{key}', which loses the key)"
    )


def _reason(path: str, error: OSError | sqlite3.Error) -> str:
    if os.path.isdir(path):
        return f"is a directory; name a database file, e.g. {os.path.join(path, 'store.db')!r}"
    if isinstance(error, OSError):
        if isinstance(error, PermissionError):
            return _permission(path)
        return f"cannot be created: {error}; name a file in a directory that can exist"
    code = getattr(error, "sqlite_errorcode", -1) & 0xFF
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        if not _may_write(path):
            return _permission(path)
        return f"cannot be opened ({error}); check that the path names a regular file"
    if code == sqlite3.SQLITE_NOTADB:
        return f"not a SQLite database (a file of another kind, or corrupt); {_MOVE_AWAY}"
    if code == sqlite3.SQLITE_CORRUPT:
        return f"corrupt ({error}; truncated or overwritten?); {_MOVE_AWAY}"
    if code == sqlite3.SQLITE_BUSY:
        return (
            "locked by another process for longer than busy_timeout; open it again"
            " once that process is done, or give a longer busy_timeout"
        )
    if code == sqlite3.SQLITE_FULL:
        return "the disk is full; free some space and open it again"
    return f"cannot be used ({type(error).__name__}: {error})"


def _permission(path: str) -> str:
    name = os.path.basename(path)
    return (
        "permission denied: this process must be able to read and write the file, and"
        f" to create {name}-wal and {name}-shm beside it; change the owner or mode of"
        " the file and its directory, or run as their owner"
    )


def _may_write(path: str) -> bool:
    """Whether this process may read and write ``path`` (or create it, and its -wal)."""
    directory = os.path.dirname(os.path.abspath(path))
    flags = os.R_OK | os.W_OK
    effective = os.access in os.supports_effective_ids
    if os.path.exists(path) and not os.access(path, flags, effective_ids=effective):
        return False
    return os.access(directory, flags | os.X_OK, effective_ids=effective)
