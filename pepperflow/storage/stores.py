"""Storage providers over pepperflow stores: items as entries, search through the index.

Each provider owns one store, built with the items' type, :class:`~._items.Stamp`
metadata and :func:`~._items.storage_terms` as its index function
(:mod:`pepperflow.storage._items` says how an item lives in an entry). A
save is a ``set`` (a compare-and-set, so that concurrent saves of a key keep
its id), a delete a ``delete``, an expiry the store's: each is a change in
``provider.store.changes()``. A search is ``store.find``; a watch follows
``store.changes`` with ``store.matches``.

* :class:`LocalStorageProvider` keeps items in process (a MemoryStore).
* :class:`SqliteStorageProvider` keeps them in a SQLite file (a SqliteStore).
* :class:`RedisStorageProvider` keeps them in Redis (a RedisStore), its index
  beside them (:mod:`pepperflow.stores.redis._searching`).
"""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, overload
from uuid import UUID, uuid4

from .._binding import StoreBinding
from .._errors import ItemNotFound, VersionConflict
from .._runner import Runner
from .._store_specs import store_options
from .._view import StoreView, view_meter
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import measured, store_registry
from ..stores._lookup import instant
from ..stores.base import Entry, Store
from ..stores.memory import MemoryStore
from ..stores.redis import DriverName, RedisStore
from ..stores.sqlite import Durability, SqliteStore
from ._checks import check_content_type, check_tags, ttl_until
from ._items import Stamp, item_of, lookup_of, storage_terms
from ._redis_config import redis_url
from ._types import StorageItem, StorageMetadata, StorageQuery, StorageResult, result_of
from ._watch import Watch
from .provider import Scorer, StorageProvider

__all__ = ["LocalStorageProvider", "RedisStorageProvider", "SqliteStorageProvider"]

T = TypeVar("T")


def _deleted(deleted: bool) -> str:
    return "ok" if deleted else "not_found"


def _stamp(
    before: Entry[Any] | None, id: UUID | None, content_type: str, tags: dict[str, str], where: str
) -> Stamp:
    """The stamp of a save: the existing item's id, else ``id`` or a new one."""
    kept = before.metadata if before is not None else None
    if not isinstance(kept, Stamp):
        return Stamp(uuid4() if id is None else id, content_type, tags)
    if id is not None and id != kept.id:
        raise ValueError(
            f"{where}: the item has the id {kept.id}, not {id}; an item keeps its id"
            " (delete it first to save a new item under the key)"
        )
    return Stamp(kept.id, content_type, tags)


class _StoreStorage(StoreView, StorageProvider[T]):
    """A storage provider over the pepperflow store it owns; see the module docstring.

    ``async with provider:`` runs its store for the block; without it, the
    store opens on first use and ``cleanup()`` (or ``aclose()``) closes it.
    Operations are recorded as :mod:`pepperflow.sinks.metrics._meter` describes, with
    ``component="storage"`` and the store's name as ``store``.
    """

    def _setup(self, make: Callable[[], Store[Any]], metrics: MetricsSink | None) -> None:
        store = make()
        owner = f"{type(self).__name__} {store.name!r}"
        runner = Runner(owner)
        binding = StoreBinding(owner, store, make=make, runner=runner)
        self._init_view(binding, runner, view_meter(metrics, "storage", store=store.name))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.store!r}>"

    @measured("save")
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
        where = f"{self!r}: save({key!r})"
        content_type = check_content_type(content_type, where)
        checked = check_tags(tags, where)
        if id is not None and not isinstance(id, UUID):
            raise TypeError(f"{where}: id must be a UUID or None, got {type(id).__name__}")
        store = self._binding.ready or await self._binding.open()
        while True:
            ttl = ttl_until(expires_at, where)
            before = await store.entry(key)
            stamp = _stamp(before, id, content_type, checked, where)
            version = 0 if before is None else before.version
            try:
                version = await store.set(key, data, ttl=ttl, metadata=stamp, if_version=version)
            except VersionConflict:
                continue  # another save (or a delete) of the key came first: again
            return await _saved(store, key, data, stamp, version, before, ttl)

    @measured("load")
    async def load(self, key: str, *, content_type: str | None = None) -> StorageItem[T]:
        store = self._binding.ready or await self._binding.open()
        entry = await store.entry(key)
        item = None if entry is None else item_of(entry)
        if item is None or content_type not in (None, item.metadata.content_type):
            raise ItemNotFound(key, content_type, repr(self))
        return item

    @measured("delete", outcome=_deleted)
    async def delete(self, key: str, *, content_type: str | None = None) -> bool:
        store = self._binding.ready or await self._binding.open()
        if content_type is None:
            return await store.delete(key)
        while True:
            entry = await store.entry(key)
            stamp = None if entry is None else entry.metadata
            if entry is None or not isinstance(stamp, Stamp) or stamp.content_type != content_type:
                return False
            try:
                return await store.delete(key, if_version=entry.version)
            except VersionConflict:
                continue

    def search(
        self, query: StorageQuery, *, scorer: Scorer[T] | None = None
    ) -> AsyncIterator[StorageResult[T]]:
        if not isinstance(query, StorageQuery):
            raise TypeError(
                f"search() takes a pepperflow.StorageQuery, got {type(query).__name__}: {query!r}"
            )
        return _Results(self._binding, query, scorer)

    def watch(self, query: StorageQuery) -> Watch[T]:
        return Watch(self._binding, query, repr(self))

    async def cleanup(self) -> None:
        await self.aclose()


async def _saved(
    store: Store[Any],
    key: str,
    data: Any,
    stamp: Stamp,
    version: int,
    before: Entry[Any] | None,
    ttl: float | None,
) -> StorageItem[Any]:
    """The item a save committed, with the store's times, read back."""
    after = await store.entry(key)
    item = None if after is None or after.version != version else item_of(after)
    if item is not None and item.metadata.id == stamp.id:
        return item
    # Saved again or deleted before it was read back: the item as this save wrote it.
    now = time.time()
    created = now if before is None else before.created_at
    metadata = StorageMetadata(
        stamp.id,
        key,
        stamp.content_type,
        instant(created),
        instant(now),
        None if ttl is None else instant(now + ttl),
        stamp.tags,
    )
    return StorageItem(data, metadata)


class _Results:
    """A search's results; the store opens (if it must) on the first step."""

    __slots__ = ("_binding", "_found", "_lookup", "_query", "_scorer")

    def __init__(self, binding: StoreBinding, query: StorageQuery, scorer: Any) -> None:
        self._binding = binding
        self._query = query
        self._scorer = scorer
        self._lookup = lookup_of(query)
        self._found: AsyncIterator[Entry[Any]] | None = None

    def __aiter__(self) -> _Results:
        return self

    async def __anext__(self) -> StorageResult[Any]:
        found = self._found
        if found is None:
            store = self._binding.ready or await self._binding.open()
            found = self._found = store.find(self._lookup)
        while True:
            item = item_of(await found.__anext__())
            if item is not None:  # not an entry written to the store directly
                return result_of(item, self._query, self._scorer)


class LocalStorageProvider(_StoreStorage[T]):
    """Items in process memory (an in-process :class:`~pepperflow.stores.MemoryStore`).

    Works as made; ``async with provider:`` also runs its expiry task, so
    expiries are changes within 50 ms of their deadline (otherwise at the
    next access of the item).

    Args:
        name: the store's name, carried by its changes.
        type: the data's type (``Any`` by default: data comes back as msgspec
            decodes it without a type, a Struct as a dict); with a type, a
            load gives a ``type`` instance and data of another type is
            refused (:class:`~pepperflow.InvalidValue`).
        metrics: the application's :class:`~pepperflow.MetricsSink`, if
            operations are to be recorded.
    """

    @overload
    def __init__(
        self: LocalStorageProvider[Any],
        *,
        name: str = "storage",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self, *, name: str = "storage", type: builtins.type[T], metrics: MetricsSink | None = None
    ) -> None: ...

    def __init__(
        self, *, name: str = "storage", type: Any = Any, metrics: MetricsSink | None = None
    ) -> None:
        options = store_options(type, store_registry(metrics))

        def make() -> Store[Any]:
            return MemoryStore(name, metadata_type=Stamp, index=storage_terms, **options)

        self._setup(make, metrics)


class SqliteStorageProvider(_StoreStorage[T]):
    """Items in a SQLite file (a :class:`~pepperflow.stores.SqliteStore`), kept
    across restarts and shared by the processes that open the file.

    Args:
        path: the database file (created, with its directory, if missing).
        namespace: the store's namespace in the file.
        type: the data's type; see :class:`LocalStorageProvider`.
        durability: ``"normal"`` or ``"full"`` (see SqliteStore).
        metrics: see :class:`LocalStorageProvider`.
    """

    @overload
    def __init__(
        self: SqliteStorageProvider[Any],
        path: str | os.PathLike[str],
        *,
        namespace: str = "storage",
        durability: Durability = "normal",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "storage",
        type: builtins.type[T],
        durability: Durability = "normal",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "storage",
        type: Any = Any,
        durability: Durability = "normal",
        metrics: MetricsSink | None = None,
    ) -> None:
        options = store_options(type, store_registry(metrics))

        def make() -> Store[Any]:
            return SqliteStore(
                path,
                namespace=namespace,
                durability=durability,
                metadata_type=Stamp,
                index=storage_terms,
                **options,
            )

        self._setup(make, metrics)


class RedisStorageProvider(_StoreStorage[T]):
    """Items in Redis (a :class:`~pepperflow.stores.RedisStore` with its index
    in Redis too), shared by every process that opens the namespace; a watch
    sees every process's saves.

    Args:
        config: R065's dict (``{"host": "localhost", "port": 6379}``, also
            ``db``, ``username``, ``password``, ``ssl`` and client options:
            :mod:`pepperflow.storage._redis_config`) or a ``redis[s]://`` URL.
        namespace: the store's namespace (its keys' hash tag).
        type: the data's type; see :class:`LocalStorageProvider`.
        driver: as RedisStore's (``"auto"``: redis-py on asyncio, coredis on trio).
        metrics: see :class:`LocalStorageProvider`.

    Raises:
        TypeError, ValueError: a malformed ``config`` (naming the key; never
            showing the password).
    """

    @overload
    def __init__(
        self: RedisStorageProvider[Any],
        config: Mapping[str, Any] | str,
        *,
        namespace: str = "storage",
        driver: DriverName = "auto",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        config: Mapping[str, Any] | str,
        *,
        namespace: str = "storage",
        type: builtins.type[T],
        driver: DriverName = "auto",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self,
        config: Mapping[str, Any] | str,
        *,
        namespace: str = "storage",
        type: Any = Any,
        driver: DriverName = "auto",
        metrics: MetricsSink | None = None,
    ) -> None:
        options = store_options(type, store_registry(metrics))
        url = redis_url(config)

        def make() -> Store[Any]:
            return RedisStore(
                url,
                namespace=namespace,
                driver=driver,
                metadata_type=Stamp,
                index=storage_terms,
                **options,
            )

        self._setup(make, metrics)
