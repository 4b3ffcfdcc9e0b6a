"""MemoryStore: the store contract in process, the default backend.

Its state is the in-memory view (see :mod:`pepperflow.stores._view`): a dict
of key to its latest change, and one heap of TTL deadlines. A write commits
synchronously (state, seq and change in one step, before any await), then
delivers its change. While the store runs (``async with MemoryStore() as
store:``) one task commits expiries within 50 ms of their deadline;
otherwise an expired key is expired on its next access. Either way each
expiry emits exactly one :class:`~pepperflow.streams.ExpireChange`.

A set keeps a copy of its own (the store's codec admits it: a checked copy
of the store's type, or the untyped form every backend gives back), so the
same value comes back from MemoryStore, SqliteStore and RedisStore, and
mutating the object you passed changes nothing. ``get`` hands out the
store's copy, shared by every reader: treat it as read-only (frozen Structs
and tuples make that a guarantee).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar, overload

from .._errors import VersionConflict
from .._patterns import compile_pattern
from ..sinks.metrics import MetricsRegistry
from ..streams.events import Change, DeleteChange, ExpireChange, SetChange
from ._apply import Mark
from ._codec import Metadata
from ._lookup import IndexTerms
from ._view import ViewStore
from .base import Snapshot

__all__ = ["MemoryStore"]


T = TypeVar("T")


class MemoryStore(ViewStore[T]):
    """The store contract in process memory.

    ``MemoryStore(type=Msg)`` is a ``MemoryStore[Msg]``: values set must be
    ``Msg`` instances and reads give ``Msg`` instances (the store's own
    copies); see :mod:`pepperflow.stores._codec`.

    Args:
        name: the store's name, carried by its changes.
        type: the values' type (``Any`` by default).
        metadata_type: the metadata's type (``dict[str, Any]`` by default).
        clock: wall-clock seconds since the epoch (``time.time``); tests may
            pass a fake one to drive lazy expiry. The expiry task sleeps in
            real time.
        callback_timeout: seconds a change callback may take before it is
            cancelled, logged and skipped (``None``, the default: no bound);
            see :mod:`pepperflow.stores._delivery`.
        metrics: a :class:`~pepperflow.MetricsRegistry` to report into: the
            calls, sampled durations and figures of
            :mod:`pepperflow.sinks.metrics._stores` (``None``: nothing, no cost).
        index: ``(value, metadata) -> terms``: keep an index for
            :meth:`find` (:mod:`pepperflow.stores._searchable`); ``None``: none.
    """

    backend = "memory"

    @overload
    def __init__(
        self: MemoryStore[Any],
        name: str = "default",
        *,
        metadata_type: Any = ...,
        clock: Callable[[], float] = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str = "default",
        *,
        type: type[T],
        metadata_type: Any = ...,
        clock: Callable[[], float] = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    def __init__(
        self,
        name: str = "default",
        *,
        type: Any = Any,
        metadata_type: Any = Metadata,
        clock: Callable[[], float] = time.time,
        callback_timeout: float | timedelta | None = None,
        metrics: MetricsRegistry | None = None,
        index: IndexTerms | None = None,
    ) -> None:
        super().__init__(
            name,
            type=type,
            metadata_type=metadata_type,
            clock=clock,
            callback_timeout=callback_timeout,
            metrics=metrics,
            index=index,
        )
        self._marks: dict[str, Mark] = {}

    # -- writing -------------------------------------------------------------

    async def _set(  # noqa: C901 - the hot path, one straight line (bench_memory "set")
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        # The hot path: _commit_set's steps, inlined.
        now = self._clock()
        expires_at = None if ttl is None else now + ttl
        data = self._data
        old = data.get(key)
        stale = None
        if old is not None and old.expires_at is not None and old.expires_at <= now:
            stale, old = old, None
        if if_version is not None:
            actual = 0 if old is None else old.version
            if if_version != actual:
                if stale is not None:
                    await self._expire_lazily(stale)
                raise VersionConflict(self.name, key, if_version, actual)
        expire = None if stale is None else self._commit_expire(stale, now)
        if old is not None and old.expires_at is not None:
            self._ttl_keys -= 1
        self._seq = seq = self._seq + 1
        if old is None:
            change = SetChange(self.name, key, 1, seq, now, value, now, metadata, expires_at)
        else:
            change = SetChange(
                self.name,
                key,
                old.version + 1,
                seq,
                now,
                value,
                old.created_at,
                metadata,
                expires_at,
            )
        data[key] = change
        if expires_at is not None:
            self._ttl_keys += 1
            # Set again with a later deadline, the key keeps its heap item (see _pop_due).
            if old is None or old.expires_at is None or old.expires_at > expires_at:
                heapq.heappush(self._heap, (expires_at, seq, key))
                if expires_at < self._next_wake or len(self._heap) > 2 * self._ttl_keys + 1024:
                    self._scheduled(expires_at)
        hub = self._hub
        if hub.count:
            if expire is None:
                subs = hub.everyone
                if subs is None and (hub.firsts is None or key[:1] in hub.firsts):
                    subs = hub.find(key)
                if subs:  # a write no subscription matches makes no call more
                    rest = hub.deliver_now(change, subs)
                    if rest is not None:
                        await rest
            else:
                await hub.publish_all((expire, change))
        return change.version

    async def _set_many(
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        self._check_open()
        now = self._clock()
        expires_at = None if ttl is None else now + ttl
        changes: list[Change] = []
        self._commit_sets(items, metadata, expires_at, now, changes)
        if self._hub.count:
            await self._hub.publish_all(changes)

    async def _delete(self, key: str, if_version: int | None) -> bool:
        entry = self._data.get(key)
        now = self._clock()
        expire = None
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            expire = self._commit_expire(entry, now)
            entry = None
        if if_version is not None:
            actual = 0 if entry is None else entry.version
            if if_version != actual:
                if expire is not None:
                    await self._hub.publish(expire)
                raise VersionConflict(self.name, key, if_version, actual)
        if entry is None:
            if expire is not None:
                await self._hub.publish(expire)
            return False
        change = self._commit_delete(entry, now)
        hub = self._hub
        if hub.count:  # no subscription: no delivery, no coroutine
            rest = hub.publish_now(change)
            if rest is not None:
                await rest
        return True

    async def clear(self, pattern: str | None = None) -> int:
        match = compile_pattern(pattern).match
        now = self._clock()
        changes: list[Change] = []
        deleted = 0
        for entry in [entry for key, entry in self._data.items() if match(key)]:
            if entry.expires_at is not None and entry.expires_at <= now:
                changes.append(self._commit_expire(entry, now))
            else:
                changes.append(self._commit_delete(entry, now))
                deleted += 1
        if changes:
            await self._hub.publish_all(changes)
        return deleted

    async def _restore(self, snapshot: Snapshot) -> None:
        self._check_open()
        now = self._clock()
        wanted = {
            item.key: item
            for item in snapshot.entries
            if item.expires_at is None or item.expires_at > now
        }
        changes: list[Change] = []
        for entry in list(self._data.values()):
            if entry.key in wanted:
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                changes.append(self._commit_expire(entry, now))
            else:
                changes.append(self._commit_delete(entry, now))
        for key, item in wanted.items():
            # Store.restore admitted the metadata: the store's copy, of its metadata_type.
            meta = item.metadata
            self._commit_set(key, item.value, meta, item.expires_at, item.created_at, now, changes)
        if changes:
            await self._hub.publish_all(changes)

    async def _apply(self, items: list[Change], mark: Mark | None) -> None:
        self._check_open()
        now = self._clock()
        changes: list[Change] = []
        for item in items:
            if isinstance(item, SetChange) and (item.expires_at is None or item.expires_at > now):
                meta, expires_at, created_at = item.metadata, item.expires_at, item.created_at
                self._commit_set(item.key, item.value, meta, expires_at, created_at, now, changes)
                continue
            entry = self._data.get(item.key)
            if entry is None:
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                changes.append(self._commit_expire(entry, now))
            else:
                changes.append(self._commit_delete(entry, now))
        if mark is not None:
            self._marks[mark.name] = mark
        if changes and self._hub.count:
            await self._hub.publish_all(changes)

    async def _read_mark(self, name: str) -> Mark | None:
        self._check_open()
        return self._marks.get(name)

    # -- commits (synchronous: state, seq and change in one step) ------------

    def _commit_set(
        self,
        key: str,
        value: Any,
        meta: dict[str, Any] | None,
        expires_at: float | None,
        created_at: float | None,
        now: float,
        changes: list[Change],
    ) -> None:
        """Commit one set: :meth:`_commit_sets` of one pair."""
        self._commit_sets(((key, value),), meta, expires_at, now, changes, created_at)

    def _commit_sets(
        self,
        pairs: Iterable[tuple[str, Any]],
        meta: dict[str, Any] | None,
        expires_at: float | None,
        now: float,
        changes: list[Change],
        created_at: float | None = None,
    ) -> None:
        """Commit a set of each pair (after expiring its old entry if due), in
        order; append the changes. ``created_at=None``: now for a new key.

        ``set`` inlines these steps: it is the hot path, and ``set_many``'s
        is this loop.
        """
        data, name, seq = self._data, self.name, self._seq
        try:
            for key, value in pairs:
                old = data.get(key)
                if old is not None and old.expires_at is not None:
                    if old.expires_at <= now:
                        self._seq = seq
                        changes.append(self._commit_expire(old, now))
                        seq, old = self._seq, None
                    else:
                        self._ttl_keys -= 1
                seq += 1
                if old is None:
                    created = now if created_at is None else created_at
                    version = 1
                else:
                    created = old.created_at if created_at is None else created_at
                    version = old.version + 1
                change = SetChange(name, key, version, seq, now, value, created, meta, expires_at)
                data[key] = change
                if expires_at is not None:
                    self._schedule(expires_at, seq, key)
                changes.append(change)
        finally:
            self._seq = seq  # whatever was committed keeps its seq

    def _commit_delete(self, entry: SetChange[Any, Any], now: float) -> DeleteChange:
        del self._data[entry.key]
        if entry.expires_at is not None:
            self._ttl_keys -= 1
        self._seq = seq = self._seq + 1
        return DeleteChange(self.name, entry.key, entry.version, seq, now)

    def _commit_expire(self, entry: SetChange[Any, Any], now: float) -> ExpireChange:
        del self._data[entry.key]
        self._ttl_keys -= 1
        self._expired += 1
        self._seq = seq = self._seq + 1
        return ExpireChange(self.name, entry.key, entry.version, seq, now)

    # -- expiry --------------------------------------------------------------

    async def _expire_lazily(self, entry: SetChange[Any, Any]) -> None:
        change = self._commit_expire(entry, self._clock())
        await self._hub.publish(change)

    async def _expire_entries(self, entries: list[SetChange[Any, Any]], now: float) -> None:
        data = self._data
        changes: list[Change] = []
        for entry in entries:
            if data.get(entry.key) is entry:
                changes.append(self._commit_expire(entry, now))
        await self._hub.publish_all(changes)

    async def _expire_due(self, now: float) -> bool:
        changes: list[Change] = [self._commit_expire(entry, now) for entry in self._pop_due(now)]
        if changes:
            await self._hub.publish_all(changes)
        return bool(changes)
