"""R065's ContentStorage: content saved, loaded and deleted by UUID, on a storage provider.

The seed's ``content/storage.py`` had its own abstract class with
synchronous methods; here it is a thin adapter on any
:class:`~pepperflow.StorageProvider` (so its content is searchable and
watchable like any item), with async methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID, uuid4

from ._checks import check_content_type
from .provider import StorageProvider

__all__ = ["ContentStorage"]

T = TypeVar("T")


class ContentStorage(Generic[T]):
    """Content of one content type, by UUID, kept by ``provider``.

    Each content is an item whose key is its UUID (``str(content_id)``) and
    whose id is that same UUID.

    Args:
        provider: where the content is kept (the application closes it).
        content_type: the content type of the items (``"content"`` by default).
    """

    def __init__(self, provider: StorageProvider[T], content_type: str = "content") -> None:
        if not isinstance(provider, StorageProvider):
            raise TypeError(
                "ContentStorage takes a StorageProvider (e.g. pepperflow.LocalStorageProvider()),"
                f" got {type(provider).__name__}"
            )
        self.provider = provider
        self.content_type = check_content_type(content_type, "ContentStorage")

    def __repr__(self) -> str:
        return f"<ContentStorage {self.content_type!r} on {self.provider!r}>"

    async def save(
        self,
        content: T,
        *,
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> UUID:
        """Save ``content`` as a new item; return its UUID."""
        content_id = uuid4()
        await self.provider.save(
            str(content_id), content, self.content_type, expires_at, tags, id=content_id
        )
        return content_id

    async def load(self, content_id: UUID) -> T:
        """The content saved as ``content_id``.

        Raises:
            ItemNotFound: none (never saved, deleted or expired).
            TypeError: ``content_id`` is not a UUID.
        """
        item = await self.provider.load(self._key(content_id), content_type=self.content_type)
        return item.data

    async def delete(self, content_id: UUID) -> bool:
        """Delete the content saved as ``content_id``; return whether there was one."""
        return await self.provider.delete(self._key(content_id), content_type=self.content_type)

    def _key(self, content_id: UUID) -> str:
        if not isinstance(content_id, UUID):
            raise TypeError(
                f"{self!r}: content ids are UUIDs (what save() returned), got"
                f" {type(content_id).__name__}: {content_id!r}"
            )
        return str(content_id)
