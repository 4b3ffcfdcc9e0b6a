"""StoreProvider: R084's storage provider kind, a provider of a store opened from a URL.

R084 calls this kind ``StorageProvider``; pepperflow keeps that name for
R065's storage backend (items with content type and tags), so R084's is
``StoreProvider``: what it provides is a pepperflow
:class:`~pepperflow.stores.Store`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from .._redact import redacted
from ..stores.base import Store
from ..stores.url import open_store
from ._types import Provider, ProviderMetadata

__all__ = ["StoreProvider"]

T = TypeVar("T")


class StoreProvider(Provider[T]):
    """A provider of storage: :attr:`storage` is a :class:`~pepperflow.stores.Store` while ready.

    By default the store is opened from ``url`` (``"sqlite:///app.db"``,
    ``"memory://"``, ...) with ``await open_store(url)``, which runs it in a
    host task of its own, and closed on :meth:`cleanup`, from whatever task
    cleans up (the manager's ``aclose`` in a later notebook cell too).
    Subclasses may instead override :meth:`_initialize_storage` (set
    ``self._storage``) and :meth:`_cleanup_storage`.

    Args:
        metadata: the provider's metadata (usually ``type=ProviderType.STORAGE``).
        config: anything the provider needs; kept as given.
        url: the store URL the default :meth:`_initialize_storage` opens.
    """

    def __init__(self, metadata: ProviderMetadata, config: T, *, url: str | None = None) -> None:
        super().__init__(metadata, config)
        if url is not None and not isinstance(url, str):
            raise TypeError(
                f"provider {metadata.name!r}: url must be a str, got {type(url).__name__}:"
                f" {redacted(url)}"
            )
        self.url = url
        self._storage: Store[Any] | None = None

    @property
    def storage(self) -> Store[Any] | None:
        """The provider's store; ``None`` before initialize and after cleanup."""
        return self._storage

    async def validate(self) -> None:
        """Refuse a provider with neither a ``url`` nor its own ``_initialize_storage``."""
        if self.url is None and type(self)._initialize_storage is StoreProvider._initialize_storage:
            raise ValueError(
                f"provider {self.metadata.name!r}: StoreProvider needs url=..."
                " (e.g. 'sqlite:///app.db') or a subclass overriding _initialize_storage"
            )

    async def initialize(self) -> None:
        await self._initialize_storage()

    async def cleanup(self) -> None:
        """Close the store (through :meth:`_cleanup_storage`) if there is one."""
        if self._storage is not None:
            try:
                await self._cleanup_storage()
            finally:
                self._storage = None

    async def _initialize_storage(self) -> None:
        """Open the store from :attr:`url` and set ``self._storage``."""
        if self.url is None:
            raise ValueError(f"provider {self.metadata.name!r}: no url to open a store from")
        # Held in a host task of its own until cleanup, so that any task may
        # clean up (a notebook cell other than the one that registered it).
        self._storage = await open_store(self.url)

    async def _cleanup_storage(self) -> None:
        """Close ``self._storage`` (called only when it is set)."""
        if self._storage is not None:
            await self._storage.aclose()
