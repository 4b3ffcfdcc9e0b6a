"""MemoryProvider: a provider whose resource is a pepperflow store (in process by default)."""

from __future__ import annotations

from typing import Any, TypeVar

from ..stores.base import Store
from ..stores.memory import MemoryStore
from ._types import Provider, ProviderMetadata

__all__ = ["MemoryProvider"]

T = TypeVar("T")


class MemoryProvider(Provider[T]):
    """A provider of memory: :attr:`store` is a :class:`~pepperflow.stores.Store` while ready.

    By default the store is an in-process
    :class:`pepperflow.stores.MemoryStore` named after the provider, closed
    on :meth:`cleanup`. Subclasses override :meth:`_initialize_store` (set
    ``self._store``) and :meth:`_cleanup_store` to provide another one.
    """

    def __init__(self, metadata: ProviderMetadata, config: T) -> None:
        super().__init__(metadata, config)
        self._store: Store[Any] | None = None

    @property
    def store(self) -> Store[Any] | None:
        """The provider's store; ``None`` before initialize and after cleanup."""
        return self._store

    async def initialize(self) -> None:
        await self._initialize_store()

    async def cleanup(self) -> None:
        """Close the store (through :meth:`_cleanup_store`) if there is one."""
        if self._store is not None:
            try:
                await self._cleanup_store()
            finally:
                self._store = None

    async def _initialize_store(self) -> None:
        """Open the store and set ``self._store``."""
        self._store = MemoryStore(self.metadata.name)

    async def _cleanup_store(self) -> None:
        """Close ``self._store`` (called only when it is set)."""
        if self._store is not None:
            await self._store.aclose()
