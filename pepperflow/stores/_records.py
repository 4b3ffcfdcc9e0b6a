"""The records a store hands out: an entry, a snapshot, its statistics."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from ..streams.events import SetChange

__all__ = ["Entry", "Snapshot", "StoreStatistics"]

T = TypeVar("T")


class Entry(msgspec.Struct, Generic[T], frozen=True):
    """A key's value (a ``T``, the store's type) with its bookkeeping (``store.entry(key)``).

    Times are seconds since the epoch; ``expires_at`` is ``None`` without a
    ttl. ``version`` counts the sets since the key was created.
    """

    key: str
    value: T
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None = None
    metadata: Any = None

    @classmethod
    def from_change(cls, change: SetChange[T, Any]) -> Entry[T]:
        return cls(
            change.key,
            change.value,
            change.version,
            change.created_at,
            change.committed_at,
            change.expires_at,
            change.metadata,
        )


class Snapshot(msgspec.Struct, frozen=True):
    """A store's live entries at one ``seq``; encodable, restorable anywhere."""

    store: str
    seq: int
    taken_at: float
    entries: list[Entry[Any]]


class StoreStatistics(msgspec.Struct, frozen=True):
    """A store's figures at one moment (``store.statistics()``).

    ``keys`` counts stored keys, including those past their deadline whose
    expiry has not been committed yet. ``expiry_errors`` counts the expiry
    commits that failed (each is logged and retried; a SQLite file locked
    by another process or a full disk, an unreachable Redis server; always
    0 on MemoryStore, whose expiries cannot fail).
    """

    store: str
    backend: str
    keys: int
    seq: int
    ttl_keys: int
    subscriptions: int
    feeds: int
    callback_errors: int
    expired: int
    expiry_errors: int
    running: bool
    closed: bool
