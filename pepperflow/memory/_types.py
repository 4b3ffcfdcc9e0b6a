"""R055's vocabulary: :class:`MemoryEntry` and the :class:`MemoryStore` protocol."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Self, TypeVar

from .._html import values_html

__all__ = ["MemoryEntry", "MemoryStore"]

T = TypeVar("T")


class MemoryEntry(Generic[T]):
    """A key's value in a memory store, with its bookkeeping (what ``get`` returns).

    Times are timezone-aware UTC datetimes: ``created_at`` when the key was
    created, ``updated_at`` when it was last set, ``expires_at`` its
    deadline (``None`` without a ttl). ``version`` is 1 for a new key and
    grows by one per set. ``metadata`` is a dict (empty when none was given).
    Made by hand, ``created_at`` defaults to now (when the entry is made) and
    ``updated_at`` to ``created_at``.
    """

    __slots__ = ("created_at", "expires_at", "key", "metadata", "updated_at", "value", "version")

    def __init__(
        self,
        key: str,
        value: T,
        expires_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        version: int = 1,
    ) -> None:
        self.key = key
        self.value = value
        self.expires_at = expires_at
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.created_at = datetime.now(UTC) if created_at is None else created_at
        self.updated_at = self.created_at if updated_at is None else updated_at
        self.version = version

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.key,
            self.value,
            self.expires_at,
            self.metadata,
            self.created_at,
            self.updated_at,
            self.version,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryEntry):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the seed's

    def __repr__(self) -> str:
        return (
            f"MemoryEntry(key={self.key!r}, value={self.value!r}, version={self.version},"
            f" expires_at={self.expires_at!r}, metadata={self.metadata!r})"
        )

    def _repr_html_(self) -> str:
        names = ("key", "value", "version", "created_at", "updated_at", "expires_at", "metadata")
        return values_html("MemoryEntry", {name: getattr(self, name) for name in names})


class MemoryStore(ABC, Generic[T]):
    """R055's memory store protocol: entries by key, with ttl, scan and clear.

    Implementations: :class:`~pepperflow.BaseMemoryStore` (over any
    pepperflow store), :class:`~pepperflow.LocalMemoryStore` (in process),
    :class:`~pepperflow.RedisMemoryStore`. Subclass it to plug another
    implementation into a :class:`~pepperflow.MemoryManager`.

    Not to be confused with :class:`pepperflow.stores.MemoryStore`, the
    in-process backend of the store contract: ``MemoryStore()`` itself
    raises a ``TypeError`` naming both what to use instead.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if cls is MemoryStore:
            raise TypeError(
                "pepperflow.MemoryStore is R055's memory store protocol (abstract), not a store:"
                " for the in-process store write `from pepperflow.stores import MemoryStore`"
                " (or `await open_store('memory://')`); for an R055 memory store write"
                " `from pepperflow import LocalMemoryStore` and `LocalMemoryStore()`"
            )
        return super().__new__(cls)

    @abstractmethod
    async def get(self, key: str) -> MemoryEntry[T] | None:
        """Return the entry of ``key``, or ``None`` when it is absent or expired.

        Raises:
            InvalidKey: ``key`` is not a non-empty str.
        """

    @abstractmethod
    async def set(
        self,
        key: str,
        value: T,
        ttl: timedelta | float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Set ``key`` to ``value``; with ``ttl`` (a timedelta or seconds) it expires.

        A set replaces the value, the ttl and the metadata.

        Raises:
            InvalidKey, InvalidTTL, UnencodableValue: bad input; nothing stored.
        """

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it was present."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether ``key`` is present (and not expired)."""

    @abstractmethod
    def scan(self, pattern: str | None = None, batch_size: int = 100) -> AsyncIterator[str]:
        """Iterate over the keys matching ``pattern``, fetched ``batch_size`` at a time.

        A plain pattern is a prefix; ``*``, ``?`` and ``[...]`` make a glob
        over the whole key; ``\\`` escapes. Keys present for the whole scan
        are yielded once.

        Raises:
            InvalidPattern: a malformed glob.
            ValueError: ``batch_size`` is not an int >= 1.
        """

    @abstractmethod
    async def clear(self, pattern: str | None = None) -> int:
        """Delete the keys matching ``pattern`` (every key when ``None``); return the count."""
