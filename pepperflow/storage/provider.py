"""R065's StorageProvider: the contract every storage provider keeps.

(R084's provider of storage is :class:`~pepperflow.StoreProvider`, another
thing.) pepperflow's providers keep items in a pepperflow store
(:mod:`pepperflow.storage.stores`); an application may implement this
contract over anything else and register it with a
:class:`~pepperflow.UnifiedStorageManager` all the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Generic, TypeAlias, TypeVar
from uuid import UUID

from ._types import StorageEvent, StorageItem, StorageQuery, StorageResult

__all__ = ["Scorer", "StorageProvider", "Watching"]

T = TypeVar("T")

#: A search's scorer: ``scorer(query, item)`` gives the item's score, or its
#: score and highlights.
Scorer: TypeAlias = Callable[[StorageQuery, StorageItem[T]], "float | tuple[float, Sequence[str]]"]

#: What ``watch(query)`` returns: ``async with`` it for the events.
Watching: TypeAlias = AbstractAsyncContextManager[AsyncIterator[StorageEvent[T]]]


class StorageProvider(ABC, Generic[T]):
    """Keeps items of data of type ``T`` under str keys, with metadata; searches them."""

    @abstractmethod
    async def save(
        self,
        key: str,
        data: T,
        content_type: str,
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        id: UUID | None = None,
    ) -> StorageItem[T]:
        """Save ``data`` under ``key``; return the item saved.

        A new key gets ``id`` (a new ``uuid4()`` by default) and a
        ``created_at``; saving an existing key replaces its data, content
        type, tags and expiry and keeps its id and ``created_at`` (only
        ``updated_at`` moves). ``expires_at`` (a timezone-aware datetime in
        the future) makes the item expire then; ``None``, never. When it
        raises, nothing is stored.

        Raises:
            InvalidTags: ``tags`` is not a mapping of str to str.
            TypeError, ValueError: a bad ``content_type``, ``expires_at`` or
                ``id`` (another id than the existing item's), or data that is
                not the provider's type (:class:`~pepperflow.InvalidValue`).
        """

    @abstractmethod
    async def load(self, key: str, *, content_type: str | None = None) -> StorageItem[T]:
        """Return the item under ``key``, of the type it was saved with.

        Raises:
            ItemNotFound: no item under ``key`` (never saved, deleted or
                expired), or one of another content type than ``content_type``.
        """

    @abstractmethod
    async def delete(self, key: str, *, content_type: str | None = None) -> bool:
        """Delete the item under ``key``; return whether there was one.

        With ``content_type``, an item of another content type is left as
        it is (and ``False`` returned).
        """

    @abstractmethod
    def search(
        self, query: StorageQuery, *, scorer: Scorer[T] | None = None
    ) -> AsyncIterator[StorageResult[T]]:
        """The items matching ``query``, in its order and page (``async for``).

        An expired item is never given. Each result has ``score`` 1.0 and
        no highlights, or what ``scorer(query, item)`` gives.

        Raises:
            TypeError: ``query`` is not a :class:`~pepperflow.StorageQuery`.
        """

    def watch(
        self, query: StorageQuery
    ) -> AbstractAsyncContextManager[AsyncIterator[StorageEvent[T]]]:
        """Follow ``query`` live: ``async with provider.watch(query) as events:``.

        The events are first the current matches (``"added"``), then each
        item that starts matching (``"added"``), changes while matching
        (``"updated"``) or stops matching (``"removed"``: deleted, expired,
        or saved so that it no longer matches), in the order of the
        changes. ``query``'s order and page do not apply (leave them out).

        A provider that cannot follow its changes raises ``TypeError``.
        """
        raise TypeError(f"{type(self).__name__} cannot watch its items (no change feed)")

    @abstractmethod
    async def cleanup(self) -> None:
        """Release what the provider holds (close the store it owns); idempotent."""
