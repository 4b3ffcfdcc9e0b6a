"""A live query: the items matching a :class:`~pepperflow.StorageQuery`, then their changes.

A :class:`Watch` follows its store's change feed from a replay of the
current state (``store.changes(pattern, replay=True)``: the state and the
subscription are taken at one commit point, so nothing is missed or seen
twice) and decides each change with ``store.matches``, the rule
``store.find`` applies. It keeps the items matching now, so that an item
that stops matching (deleted, expired, saved with other tags) is reported
with the last item that matched. On a SqliteStore the feed carries the
other processes' changes too.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from .._binding import StoreBinding
from ..stores.base import Store
from ..stores.feed import ChangeFeed
from ..streams.events import Change, SetChange
from ._items import item_of, lookup_of
from ._types import StorageEvent, StorageItem, StorageQuery

__all__ = ["Watch"]

T = TypeVar("T")


class Watch(Generic[T]):
    """``async with provider.watch(query) as events: async for event in events:``.

    See :meth:`pepperflow.StorageProvider.watch`. The events end when the
    store closes.

    Raises:
        TypeError: ``query`` is not a :class:`~pepperflow.StorageQuery`.
        ValueError: ``query`` has a ``limit`` or an ``offset`` (a watch
            follows every match).
    """

    def __init__(self, binding: StoreBinding, query: StorageQuery, owner: str) -> None:
        if not isinstance(query, StorageQuery):
            raise TypeError(
                f"watch() takes a pepperflow.StorageQuery, got {type(query).__name__}: {query!r}"
            )
        if query.limit is not None or query.offset:
            raise ValueError(
                f"{owner}: watch() follows every match; leave out the query's limit and offset"
            )
        self._binding = binding
        self._pattern = query.pattern
        self._lookup = lookup_of(query, paged=False)
        self._matching: dict[str, StorageItem[T]] = {}
        self._store: Store[Any] | None = None
        self._feed: ChangeFeed | None = None

    async def __aenter__(self) -> Watch[T]:
        if self._feed is not None:
            raise RuntimeError("a watch can be entered once; call watch() again")
        store = self._binding.ready or await self._binding.open()
        feed = store.changes(self._pattern, replay=True)
        await feed.__aenter__()
        self._store, self._feed = store, feed
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._feed is not None:
            await self._feed.__aexit__(*exc_info)

    def __aiter__(self) -> Watch[T]:
        return self

    async def __anext__(self) -> StorageEvent[T]:
        feed = self._feed
        if feed is None:
            raise RuntimeError("use the watch in `async with provider.watch(query) as events:`")
        while True:
            event = self._event(await feed.__anext__())
            if event is not None:
                return event

    def _event(self, change: Change) -> StorageEvent[T] | None:
        """What ``change`` means for the query, if anything."""
        key = change.key
        was = self._matching.get(key)
        if isinstance(change, SetChange):
            item = item_of(change)
            assert self._store is not None
            if item is not None and self._store.matches(self._lookup, change):
                self._matching[key] = item
                return StorageEvent("added" if was is None else "updated", key, item, change.seq)
        if was is None:
            return None
        del self._matching[key]
        return StorageEvent("removed", key, was, change.seq)
