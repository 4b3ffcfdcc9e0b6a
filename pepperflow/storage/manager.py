"""UnifiedStorageManager: R065's storage providers registered per content type."""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, Self

import anyio
import anyio.abc
import msgspec

from .._errors import UnknownContentType
from .._runner import close_each
from ._checks import check_content_type
from ._types import StorageEvent, StorageItem, StorageQuery, StorageResult
from .provider import Scorer, StorageProvider, Watching

__all__ = ["UnifiedStorageManager"]


class UnifiedStorageManager(anyio.abc.AsyncResource):
    """Storage providers registered per content type; every operation names one.

    ::

        storage = UnifiedStorageManager()
        storage.register_provider("report", SqliteStorageProvider("app.db", type=Report))
        storage.register_provider("note", LocalStorageProvider())
        await storage.save("r:1", report, "report", tags={"run": "42"})
        item = await storage.load("r:1", "report")

    One provider may serve several content types. A search without a
    content type searches every provider once, its results merged in the
    query's order. Errors propagate as the providers raise them (the seed
    logged and dropped a failing provider's search; pepperflow does not).
    The manager owns the providers registered with it: :meth:`cleanup` (or
    ``aclose()``, or the end of ``async with``) closes each once.
    """

    def __init__(self) -> None:
        self._providers: dict[str, StorageProvider[Any]] = {}

    def __repr__(self) -> str:
        return f"<UnifiedStorageManager content_types={self.content_types}>"

    # -- registry --------------------------------------------------------------

    @property
    def content_types(self) -> list[str]:
        """The content types registered, sorted."""
        return sorted(self._providers)

    def register_provider(self, content_type: str, provider: StorageProvider[Any]) -> None:
        """Serve ``content_type`` with ``provider``.

        Raises:
            TypeError: ``provider`` is not a :class:`~pepperflow.StorageProvider`.
            ValueError: another provider serves ``content_type`` already
                (unregister it first); a bad ``content_type``.
        """
        content_type = check_content_type(content_type, "register_provider")
        if not isinstance(provider, StorageProvider):
            raise TypeError(
                f"register_provider({content_type!r}, ...) takes a StorageProvider (e.g."
                f" pepperflow.LocalStorageProvider()), got {type(provider).__name__}"
            )
        known = self._providers.get(content_type)
        if known is not None and known is not provider:
            raise ValueError(
                f"content type {content_type!r} is served by {known!r} already;"
                " unregister_provider() it first"
            )
        self._providers[content_type] = provider

    def unregister_provider(self, content_type: str) -> StorageProvider[Any]:
        """Stop serving ``content_type``; return its provider (not closed).

        Raises:
            UnknownContentType: no provider serves it.
        """
        provider = self.provider(content_type)
        del self._providers[content_type]
        return provider

    def provider(self, content_type: str) -> StorageProvider[Any]:
        """The provider serving ``content_type``.

        Raises:
            UnknownContentType: none does; the error names those registered.
        """
        provider = self._providers.get(content_type)
        if provider is None:
            raise UnknownContentType(content_type, self.content_types)
        return provider

    def _distinct(self) -> list[StorageProvider[Any]]:
        """Each registered provider once, in registration order."""
        return list({id(p): p for p in self._providers.values()}.values())

    # -- items -------------------------------------------------------------------

    async def save(
        self,
        key: str,
        data: Any,
        content_type: str,
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> StorageItem[Any]:
        """Save with the provider of ``content_type`` (:meth:`StorageProvider.save`)."""
        return await self.provider(content_type).save(key, data, content_type, expires_at, tags)

    async def load(self, key: str, content_type: str) -> StorageItem[Any]:
        """Load an item of ``content_type``.

        Raises:
            UnknownContentType: no provider serves ``content_type``.
            ItemNotFound: no item of ``content_type`` under ``key``.
        """
        return await self.provider(content_type).load(key, content_type=content_type)

    async def delete(self, key: str, content_type: str) -> bool:
        """Delete the item of ``content_type`` under ``key``; whether there was one."""
        return await self.provider(content_type).delete(key, content_type=content_type)

    def search(
        self, query: StorageQuery, *, scorer: Scorer[Any] | None = None
    ) -> AsyncIterator[StorageResult[Any]]:
        """The items matching ``query``: from its content type's provider, or from
        every provider (each once), merged in the query's order and paged.

        Raises:
            TypeError: ``query`` is not a :class:`~pepperflow.StorageQuery`.
            UnknownContentType: no provider serves ``query.content_type``.
        """
        if not isinstance(query, StorageQuery):
            raise TypeError(
                f"search() takes a pepperflow.StorageQuery, got {type(query).__name__}: {query!r}"
            )
        if query.content_type is not None:
            return self.provider(query.content_type).search(query, scorer=scorer)
        providers = self._distinct()
        if len(providers) == 1:
            return providers[0].search(query, scorer=scorer)
        return _Merged(providers, query, scorer)

    def watch(
        self, query: StorageQuery
    ) -> AbstractAsyncContextManager[AsyncIterator[StorageEvent[Any]]]:
        """Follow ``query`` live on its content type's provider, or on every
        provider (their events interleaved as they come); see
        :meth:`StorageProvider.watch`.

        Raises:
            UnknownContentType: no provider serves ``query.content_type``.
        """
        if not isinstance(query, StorageQuery):
            raise TypeError(
                f"watch() takes a pepperflow.StorageQuery, got {type(query).__name__}: {query!r}"
            )
        if query.content_type is not None:
            return self.provider(query.content_type).watch(query)
        watches = [provider.watch(query) for provider in self._distinct()]
        if len(watches) == 1:
            return watches[0]
        return _merged_watch(watches)

    # -- lifecycle ---------------------------------------------------------------

    async def cleanup(self) -> None:
        """Close every provider once, the last registered first; raise what failed.

        Raises:
            Exception: what a provider's ``cleanup()`` raised (several together
                as an ExceptionGroup), after every provider was asked.
        """
        closers: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (repr(provider), provider.cleanup) for provider in reversed(self._distinct())
        ]
        await close_each(closers)

    async def aclose(self) -> None:
        """:meth:`cleanup`."""
        await self.cleanup()

    async def __aenter__(self) -> Self:
        return self


def _order_key(query: StorageQuery) -> Callable[[StorageResult[Any]], Any]:
    """The query's order as a sort key of results (ascending), as the stores order."""
    field = query.order_by

    def key(result: StorageResult[Any]) -> Any:
        meta = result.item.metadata
        if field == "key":
            return (meta.key,)
        if field == "expires_at":
            at = meta.expires_at
            return (0, at, meta.key) if at is not None else (1, meta.key)
        return (getattr(meta, field), meta.key)

    return key


class _Merged:
    """The results of several providers, merged in the query's order, then paged."""

    __slots__ = ("_providers", "_query", "_results", "_scorer")

    def __init__(
        self, providers: list[StorageProvider[Any]], query: StorageQuery, scorer: Any
    ) -> None:
        self._providers = providers
        self._query = query
        self._scorer = scorer
        self._results: AsyncIterator[StorageResult[Any]] | None = None

    def __aiter__(self) -> _Merged:
        return self

    async def __anext__(self) -> StorageResult[Any]:
        if self._results is None:
            self._results = await self._gather()
        return await self._results.__anext__()

    async def _gather(self) -> AsyncIterator[StorageResult[Any]]:
        query = self._query
        end = None if query.limit is None else query.offset + query.limit
        each = msgspec.structs.replace(query, offset=0, limit=end)
        lists = []
        for provider in self._providers:
            lists.append([result async for result in provider.search(each, scorer=self._scorer)])
        merged = list(heapq.merge(*lists, key=_order_key(query), reverse=query.descending))
        return _Listed(merged[query.offset : end])


class _Listed:
    __slots__ = ("_items",)

    def __init__(self, items: list[StorageResult[Any]]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> _Listed:
        return self

    async def __anext__(self) -> StorageResult[Any]:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


@asynccontextmanager
async def _merged_watch(
    watches: list[Watching[Any]],
) -> AsyncIterator[AsyncIterator[StorageEvent[Any]]]:
    """Several watches' events through one memory object stream, as they come."""
    send, receive = anyio.create_memory_object_stream[StorageEvent[Any]]()
    async with AsyncExitStack() as stack, anyio.create_task_group() as group:
        stack.enter_context(send)
        stack.enter_context(receive)
        for watch in watches:
            events = await stack.enter_async_context(watch)
            group.start_soon(_pump, events, send.clone())
        send.close()
        try:
            yield receive
        finally:
            group.cancel_scope.cancel()


async def _pump(
    events: AsyncIterator[StorageEvent[Any]],
    send: anyio.abc.ObjectSendStream[StorageEvent[Any]],
) -> None:
    async with send:
        async for event in events:
            await send.send(event)
