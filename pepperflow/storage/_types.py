"""R065's records: an item with its metadata, a query, a search result, a watch event.

They are frozen msgspec Structs (the seed's dataclasses, with types that
encode): an item saved comes back as an equal item from every backend.
Times are timezone-aware UTC datetimes, the store's own (its commit times
and its expiry deadline), shown to the microsecond.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

import msgspec

from .._html import record_html
from ..stores._lookup import Selection
from ._checks import check_content_type, check_tags

__all__ = ["StorageEvent", "StorageItem", "StorageMetadata", "StorageQuery", "StorageResult"]

T = TypeVar("T")


class StorageMetadata(msgspec.Struct, frozen=True):
    """What a store keeps beside an item's data (R065's fields).

    ``id`` is given when the key is first saved and kept by every later
    save of that key, as ``created_at`` is; ``updated_at`` is the time of the
    last save. ``expires_at`` is when the store expires the item (``None``:
    never): the moment asked for, to within the time the save took.
    """

    id: UUID
    key: str
    content_type: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    tags: dict[str, str]


class StorageItem(msgspec.Struct, Generic[T], frozen=True):
    """An item: its data (a ``T``, the provider's type) and its metadata."""

    data: T
    metadata: StorageMetadata

    _repr_html_ = record_html


class StorageQuery(Selection, frozen=True, kw_only=True):
    """What a search looks for: items matching every field given.

    * ``pattern``: the keys, by the stores' one rule (a prefix such as
      ``"report:"``, or a glob over the whole key with ``*``, ``?``, ``[...]``);
    * ``content_type``: items of that content type;
    * ``tags``: items having every one of these tags with that value;
    * ``created_after`` / ``created_before``, ``expires_after`` /
      ``expires_before``: inclusive bounds, timezone-aware datetimes; an
      item without an expiry matches no expiry bound.

    Beyond R065: results come ordered by ``order_by`` (``"created_at"``,
    the default, ``"updated_at"``, ``"expires_at"``, items without an expiry
    last, or ``"key"``), ties broken by key, reversed with ``descending``;
    ``offset`` results are skipped and at most ``limit`` given.

    Checked when made: a bad field raises ``TypeError`` or ``ValueError``
    naming it (tags that are not str to str:
    :class:`~pepperflow.InvalidTags`).
    """

    content_type: str | None = None
    tags: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.content_type is not None:
            check_content_type(self.content_type, "StorageQuery")
        if self.tags is not None:
            check_tags(self.tags, "StorageQuery")
        super().__post_init__()


class StorageResult(msgspec.Struct, Generic[T], frozen=True):
    """One item a search found; ``score`` and ``highlights`` are the scorer's
    (1.0 and none without one: no relevance is promised)."""

    item: StorageItem[T]
    score: float = 1.0
    highlights: list[str] = msgspec.field(default_factory=list)

    _repr_html_ = record_html


class StorageEvent(msgspec.Struct, Generic[T], frozen=True):
    """What a watch yields: an item that started matching, changed, or stopped.

    ``kind`` is ``"added"`` (it matches: the current matches first, then
    each item that starts matching), ``"updated"`` (saved again, still
    matching) or ``"removed"`` (deleted, expired, or saved so that it no
    longer matches; ``item`` is then the last that matched). ``seq`` is
    the ``seq`` of the store change it comes from (for a current match, the
    change that set it).
    """

    kind: Literal["added", "updated", "removed"]
    key: str
    item: StorageItem[T]
    seq: int

    _repr_html_ = record_html


def result_of(item: StorageItem[Any], query: StorageQuery, scorer: Any) -> StorageResult[Any]:
    """The result for ``item``: scored by ``scorer(query, item)`` when given.

    The scorer returns a score, or a ``(score, highlights)`` pair.
    """
    if scorer is None:
        return StorageResult(item)
    scored = scorer(query, item)
    if isinstance(scored, tuple):
        score, highlights = scored
        return StorageResult(item, float(score), [str(text) for text in highlights])
    return StorageResult(item, float(scored))
