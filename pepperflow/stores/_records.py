"""The records a store hands out: an entry, a snapshot, its statistics."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .._html import record_html, rows_html
from ..streams.events import SetChange

__all__ = ["Entry", "FeedFigures", "Snapshot", "StoreStatistics"]

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

    _repr_html_ = record_html

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

    def _repr_html_(self) -> str:
        entries = "1 entry" if len(self.entries) == 1 else f"{len(self.entries)} entries"
        caption = f"Snapshot of {self.store!r} at seq {self.seq}: {entries}"
        return rows_html(caption, self.entries)


class FeedFigures(msgspec.Struct, frozen=True):
    """The figures of a store's change feeds of one ``overflow`` policy.

    ``feeds`` and ``lag`` are now: the feeds open, and the most changes one
    of them has buffered and not yet consumed. ``dropped`` and
    ``overflowed`` count since the store was made, closed feeds included:
    the changes dropped (the oldest under ``"drop_oldest"``, one replaced
    by a newer change of its key under ``"latest_per_key"``), and the feeds
    failed with :class:`~pepperflow.FeedOverflow`.
    """

    overflow: str
    feeds: int = 0
    lag: int = 0
    dropped: int = 0
    overflowed: int = 0


class StoreStatistics(msgspec.Struct, frozen=True):
    """A store's figures at one moment (``store.statistics()``).

    ``keys`` counts stored keys, including those past their deadline whose
    expiry has not been committed yet. ``expiry_errors`` counts the expiry
    commits that failed (each is logged and retried; a SQLite file locked
    by another process or a full disk, an unreachable Redis server; always
    0 on MemoryStore, whose expiries cannot fail). ``feed_figures`` has one
    :class:`FeedFigures` per overflow policy a feed of the store has used.
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
    feed_figures: tuple[FeedFigures, ...] = ()

    _repr_html_ = record_html
