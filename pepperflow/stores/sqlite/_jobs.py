"""The write jobs of SqliteStore: one function per store write, run in a transaction.

Each job is called on the connection's thread as ``job(*args, txn)`` (the
store binds the arguments with :func:`functools.partial`) inside a group
transaction (:mod:`._transaction`); it checks what it must against
``txn.view`` and writes through ``txn.put`` and ``txn.remove``. Raising
undoes the job's writes and reaches its caller. The input was checked once,
by the store contract, before the job was queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._errors import VersionConflict
from ...streams.events import Change, SetChange
from .._apply import Mark, encode_mark
from ..base import Snapshot
from ._transaction import Transaction

__all__ = ["apply", "clear", "delete", "expire", "nothing", "restore", "set_many", "set_one"]


def _check_version(
    txn: Transaction, key: str, entry: SetChange[Any, Any] | None, wanted: int
) -> None:
    actual = 0 if entry is None else entry.version
    if actual != wanted:
        raise VersionConflict(txn.ns, key, wanted, actual)


def set_one(
    key: str,
    value: Any,
    meta: Any,
    seconds: float | None,
    if_version: int | None,
    txn: Transaction,
) -> int:
    """``set``: the key's new version."""
    if if_version is not None:
        _check_version(txn, key, txn.live(key), if_version)
    expires_at = None if seconds is None else txn.now + seconds
    return txn.put(key, value, meta, expires_at).version


def set_many(
    pairs: list[tuple[str, Any]],
    meta: Any,
    seconds: float | None,
    txn: Transaction,
) -> None:
    """``set_many``: every pair, with one deadline."""
    expires_at = None if seconds is None else txn.now + seconds
    put = txn.put
    for key, value in pairs:
        put(key, value, meta, expires_at)


def delete(key: str, if_version: int | None, txn: Transaction) -> bool:
    """``delete``: whether the key was there."""
    entry = txn.live(key)
    if if_version is not None:
        _check_version(txn, key, entry, if_version)
    if entry is None:
        return False
    txn.remove(entry, expire=False)
    return True


def clear(prefix: str, match: Callable[[str], bool], txn: Transaction) -> int:
    """``clear``: how many live keys matching were deleted (in key order)."""
    deleted = 0
    for key in sorted(k for k in txn.view if k.startswith(prefix) and match(k)):
        entry = txn.live(key)
        if entry is not None:
            txn.remove(entry, expire=False)
            deleted += 1
    return deleted


def restore(snapshot: Snapshot, txn: Transaction) -> None:
    """``restore``: delete the keys the snapshot lacks, then set its live entries."""
    wanted = {
        item.key: item
        for item in snapshot.entries
        if item.expires_at is None or item.expires_at > txn.now
    }
    for key in [key for key in txn.view if key not in wanted]:
        entry = txn.live(key)
        if entry is not None:
            txn.remove(entry, expire=False)
    for key, item in wanted.items():  # value and metadata: the store's admitted copies
        txn.put(key, item.value, item.metadata, item.expires_at, item.created_at)


def apply(changes: list[Change], mark: Mark | None, txn: Transaction) -> None:
    """``apply_changes``: another store's changes (one per key), then the mark."""
    txn.copy(changes)
    if mark is not None:
        txn.marks.append((txn.ns, mark.name, encode_mark(mark)))


def expire(items: list[tuple[str, int]], txn: Transaction) -> None:
    """Expire each ``(key, seq)`` whose entry is still that set and past its deadline
    (so however many processes sweep, a key expires once)."""
    view, now = txn.view, txn.now
    for key, seq in items:
        entry: SetChange[Any, Any] | None = view.get(key)
        if (
            entry is not None
            and entry.seq == seq
            and entry.expires_at is not None
            and entry.expires_at <= now
        ):
            txn.remove(entry, expire=True)


def nothing(txn: Transaction) -> None:
    """Write nothing: the transaction only takes in other processes' changes."""
