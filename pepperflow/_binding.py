"""The store a view works on: the application's, or one the view owns and runs.

A :class:`StoreBinding` hands a view (a state manager, a memory store) its
store for each operation. The application's store is used as it is. A store
the view owns is run by a :class:`~pepperflow._runner.Runner` on first use
(or :meth:`StoreBinding.open`); one that fails to open is replaced by a
fresh one for the next try (a RedisStore cannot be reopened). An owned
in-process MemoryStore works unopened unless its runner was entered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from ._runner import Runner
from .stores.base import Store
from .stores.memory import MemoryStore

__all__ = ["StoreBinding"]


class StoreBinding:
    """The store a view works on: the application's, or one it owns and opens on first use.

    Args:
        owner: how errors name the view.
        store: the store.
        make: for a store the view owns, how to make a fresh one (after a
            failed open the store is replaced); ``None`` for a store the
            application owns (it opens and closes it).
        runner: where an owned store runs.
        on_ready: called with the store once it is open, when it could not
            take subscriptions before (an owned SqliteStore or RedisStore).
    """

    __slots__ = (
        "_closed",
        "_hosted",
        "_lock",
        "_make",
        "_runner",
        "_store",
        "on_ready",
        "owner",
        "ready",
    )

    def __init__(
        self,
        owner: str,
        store: Store[Any],
        *,
        make: Callable[[], Store[Any]] | None = None,
        runner: Runner | None = None,
        on_ready: Callable[[Store[Any]], None] | None = None,
    ) -> None:
        if (make is None) != (runner is None):
            raise ValueError("an owned store needs both make and runner")
        self._store = store
        self._make = make
        self._runner = runner
        self.on_ready = on_ready
        self._hosted = False
        self._closed = False
        #: The store while it needs no opening (an operation's fast path:
        #: ``binding.ready or await binding.open()``), else ``None``.
        self.ready: Store[Any] | None = None
        if runner is None or (isinstance(store, MemoryStore) and not runner.entered):
            self.ready = store  # used as it is unless it must be hosted
        self._lock = anyio.Lock()
        self.owner = owner

    @property
    def store(self) -> Store[Any]:
        """The store (replaced by a fresh one when an owned store failed to open)."""
        return self._store

    @property
    def owned(self) -> bool:
        return self._make is not None

    @property
    def usable(self) -> bool:
        """Whether the store takes subscriptions now (open, in process, or the application's)."""
        return not self._closed and (
            self._make is None or self._hosted or isinstance(self._store, MemoryStore)
        )

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> Store[Any]:
        """Open (run) the store now if it must be and is not yet; return it."""
        if self._closed:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")
        runner, make = self._runner, self._make
        if runner is None or make is None or self._hosted:
            self.ready = self._store
            return self._store
        if isinstance(self._store, MemoryStore) and not runner.entered:
            self.ready = self._store  # works unopened; its expiry is lazy
            return self._store
        async with self._lock:
            if self._closed:
                raise anyio.ClosedResourceError(f"{self.owner} is closed")
            store = self._store
            if self._hosted:
                return store
            was_usable = self.usable
            try:
                await runner.open(store)
            except anyio.ClosedResourceError:
                raise
            except Exception:
                self._store = make()  # a failed store is not reused (a RedisStore cannot be)
                raise
            self._hosted = True
            self.ready = store
        if not was_usable and self.on_ready is not None:
            self.on_ready(store)
        return store

    async def aclose(self) -> None:
        """Close the store if the view owns it; a closed binding refuses every use."""
        if self._closed:
            return
        self._closed = True
        self.ready = None
        if self._runner is None:
            return  # the application's store
        if self._hosted:
            await self._runner.close(self._store)
        else:
            await self._store.aclose()  # never run (or an unopened MemoryStore)
