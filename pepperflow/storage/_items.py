"""How a storage item lives in a store, and the checks of a save's input.

A provider keeps each item as one store entry: the key is the item's key,
the value its data, and the entry's metadata a :class:`Stamp` (the item's
id, content type and tags). Its times are the store's: ``created_at``
(kept across sets by every store), ``updated_at`` (the last set's commit)
and ``expires_at`` (the entry's ttl deadline). So a save or a delete is a
store change like any other, and an item's expiry is the store's.

The store is built with :func:`storage_terms` as its index function: an
item's terms are its content type and each of its tags, so a query's
content type and tags are index lookups (:mod:`pepperflow.stores._lookup`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from ..stores._lookup import Lookup, instant
from ..stores._records import Entry
from ..streams.events import SetChange
from ._types import StorageItem, StorageMetadata, StorageQuery

__all__ = ["Stamp", "item_of", "lookup_of", "storage_terms"]


class Stamp(msgspec.Struct, frozen=True):
    """An item's own metadata, kept as its store entry's metadata."""

    id: UUID
    content_type: str
    tags: dict[str, str] = msgspec.field(default_factory=dict)


def type_term(content_type: str) -> str:
    return f"type:{content_type}"


def tag_term(name: str, value: str) -> str:
    # The name's length makes the term unambiguous whatever the texts hold.
    return f"tag:{len(name)}:{name}={value}"


def storage_terms(data: Any, stamp: Stamp | None) -> list[str]:
    """The index function of a provider's store: an item's content type and tags."""
    if stamp is None:
        return []
    return [type_term(stamp.content_type), *(tag_term(n, v) for n, v in stamp.tags.items())]


def item_of(entry: Entry[Any] | SetChange[Any, Any]) -> StorageItem[Any] | None:
    """The item a store entry (or the set that made it) holds; ``None`` for an
    entry that is not an item (no stamp: written to the store directly)."""
    stamp = entry.metadata
    if not isinstance(stamp, Stamp):
        return None
    updated = entry.updated_at if isinstance(entry, Entry) else entry.committed_at
    metadata = StorageMetadata(
        stamp.id,
        entry.key,
        stamp.content_type,
        instant(entry.created_at),
        instant(updated),
        None if entry.expires_at is None else instant(entry.expires_at),
        stamp.tags,
    )
    return StorageItem(entry.value, metadata)


def lookup_of(query: StorageQuery, *, paged: bool = True) -> Lookup:
    """The store lookup of ``query``: its content type and tags as terms.

    ``paged=False`` leaves out the order and the page (a watch follows
    every match).
    """
    terms = {tag_term(name, value) for name, value in (query.tags or {}).items()}
    if query.content_type is not None:
        terms.add(type_term(query.content_type))
    page: dict[str, Any] = {}
    if paged:
        page = {
            "order_by": query.order_by,
            "descending": query.descending,
            "offset": query.offset,
            "limit": query.limit,
        }
    return Lookup(
        terms=frozenset(terms),
        pattern=query.pattern,
        created_after=query.created_after,
        created_before=query.created_before,
        expires_after=query.expires_after,
        expires_before=query.expires_before,
        **page,
    )
