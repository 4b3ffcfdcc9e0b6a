"""MemoryManager: R055's named memory stores, with a default."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any, Generic, TypeVar, overload

from .._errors import UnknownStore
from .._store_specs import type_name
from ._types import MemoryEntry, MemoryStore
from .stores import BaseMemoryStore

__all__ = ["MemoryManager"]

T = TypeVar("T")


class MemoryManager(Generic[T]):
    """Memory stores registered by name, one of them the default.

    ::

        memory = MemoryManager[str]()
        memory.register_store("local", LocalMemoryStore[str](), default=True)
        memory.register_store("shared", RedisMemoryStore[str](url))
        await memory.set("turn", "hello", ttl=timedelta(minutes=5))
        entry = await memory.get("turn")  # a MemoryEntry, from "local"
        await memory.set("turn", "hello", store="shared")

    Every operation takes ``store=NAME``; without it the default store is
    used. The manager does not own its stores: the application opens and
    closes them (``async with``), so a store may be registered in several
    managers.

    ``MemoryManager(type=Msg)`` is a ``MemoryManager[Msg]`` that registers
    only memory stores made with the same ``type=Msg``
    (``LocalMemoryStore(type=Msg)``, ``RedisMemoryStore(url, type=Msg)``),
    so every entry it returns holds a ``Msg``, whatever the backend. Other
    implementations of :class:`~pepperflow.MemoryStore` are taken at
    their word.
    """

    @overload
    def __init__(self: MemoryManager[Any]) -> None: ...

    @overload
    def __init__(self, *, type: type[T]) -> None: ...

    def __init__(self, *, type: Any = Any) -> None:
        self._stores: dict[str, MemoryStore[T]] = {}
        self._default: str | None = None
        #: The values' type of the stores it registers (``Any``: any store).
        self.value_type: Any = type

    def __repr__(self) -> str:
        return f"<MemoryManager stores={sorted(self._stores)} default={self._default!r}>"

    # -- registry ------------------------------------------------------------------

    def register_store(self, name: str, store: MemoryStore[T], default: bool = False) -> None:
        """Register ``store`` as ``name``; with ``default=True`` it becomes the default.

        Raises:
            ValueError: an empty name, or a name already registered
                (unregister it first).
            TypeError: ``store`` is not a :class:`~pepperflow.MemoryStore`,
                or a :class:`~pepperflow.BaseMemoryStore` whose type is not
                the manager's.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a memory store's name must be a non-empty str, got {name!r}")
        if not isinstance(store, MemoryStore):
            raise TypeError(
                f"store {name!r}: expected a pepperflow.MemoryStore (e.g."
                f" LocalMemoryStore()), got {type(store).__name__}: {store!r}"
            )
        self._check_type(name, store)
        if name in self._stores:
            raise ValueError(
                f"a memory store named {name!r} is already registered;"
                " unregister_store it first, or choose another name"
            )
        self._stores[name] = store
        if default:
            self._default = name

    def _check_type(self, name: str, store: MemoryStore[T]) -> None:
        wanted = self.value_type
        if wanted is Any or not isinstance(store, BaseMemoryStore):
            return
        if store.value_type != wanted:
            label = type_name(wanted)
            raise TypeError(
                f"store {name!r}: {store!r} keeps values of type {type_name(store.value_type)}, and"
                f" this manager's type is {label}; make it with type={label} (e.g."
                f" LocalMemoryStore(type={label}))"
            )

    def unregister_store(self, name: str) -> MemoryStore[T]:
        """Remove the store ``name`` (the default no longer is one); return it.

        Raises:
            UnknownStore: no store has that name.
        """
        store = self.get_store(name)
        del self._stores[name]
        if self._default == name:
            self._default = None
        return store

    def get_store(self, name: str | None = None) -> MemoryStore[T]:
        """The store registered as ``name``, or the default one.

        Raises:
            UnknownStore: no store has that name (or no default, for ``None``).
        """
        if name is None:
            name = self._default
            if name is None:
                raise UnknownStore(None, sorted(self._stores))
        store = self._stores.get(name)
        if store is None:
            raise UnknownStore(name, sorted(self._stores))
        return store

    @property
    def stores(self) -> dict[str, MemoryStore[T]]:
        """The registered stores by name (a copy)."""
        return dict(self._stores)

    @property
    def default_store(self) -> str | None:
        """The name of the default store, if there is one."""
        return self._default

    # -- R055 --------------------------------------------------------------------

    async def get(self, key: str, store: str | None = None) -> MemoryEntry[T] | None:
        """The entry of ``key`` in ``store`` (the default one), or ``None``."""
        return await self.get_store(store).get(key)

    async def set(
        self,
        key: str,
        value: T,
        ttl: timedelta | float | None = None,
        metadata: Mapping[str, Any] | None = None,
        store: str | None = None,
    ) -> None:
        """Set ``key`` in ``store`` (the default one); see :meth:`MemoryStore.set`."""
        await self.get_store(store).set(key, value, ttl=ttl, metadata=metadata)

    async def delete(self, key: str, store: str | None = None) -> bool:
        """Delete ``key`` from ``store`` (the default one); return whether it was there."""
        return await self.get_store(store).delete(key)

    async def exists(self, key: str, store: str | None = None) -> bool:
        """Whether ``key`` is in ``store`` (the default one)."""
        return await self.get_store(store).exists(key)

    def scan(
        self, pattern: str | None = None, batch_size: int = 100, store: str | None = None
    ) -> AsyncIterator[str]:
        """The keys of ``store`` (the default one) matching ``pattern``."""
        return self.get_store(store).scan(pattern, batch_size)

    async def clear(self, pattern: str | None = None, store: str | None = None) -> int:
        """Delete the keys of ``store`` (the default one) matching ``pattern``; the count."""
        return await self.get_store(store).clear(pattern)
