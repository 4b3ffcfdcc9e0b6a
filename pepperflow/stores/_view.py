"""MemoryStore: the store contract in process, the default backend.

The state is a dict of key to its latest :class:`~pepperflow.streams.SetChange`
(the store is literally the latest change per key). TTLs live in one heap of
``(deadline, seq, key)``; a heap item whose entry was replaced since is stale
and skipped. While the store runs (``async with MemoryStore() as store:``)
one task sleeps until the earliest deadline and commits the expiries;
otherwise an expired key is expired on its next access. Either way each
expiry emits exactly one :class:`~pepperflow.streams.ExpireChange`.

Values are kept as given, not copied: treat what you store (and what
``get`` returns) as immutable, as you would a dict shared between tasks.
Every write is checked to be msgspec-encodable, so the same data moves to
SqliteStore or RedisStore unchanged.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

import anyio
import anyio.abc
import anyio.lowlevel

from .._errors import VersionConflict
from .._patterns import compile_pattern
from ..streams.events import Change, DeleteChange, ExpireChange, SetChange
from .base import (
    _SCALARS,
    INT_MAX,
    INT_MIN,
    Entry,
    Snapshot,
    Store,
    StoreStatistics,
    bad_key,
    check_key,
    check_metadata,
    check_value,
    check_version,
    ttl_seconds,
)

__all__ = ["MemoryStore"]

_EXPIRE_BATCH = 1024  # expiries committed per step of the expiry task


class _Closed(dict[str, SetChange]):
    """Stands in for the data of a closed store: any use raises."""

    def _closed(self, *args: object, **kwargs: object) -> NoReturn:
        raise anyio.ClosedResourceError(
            "this MemoryStore is closed; open a new one (its data went with it)"
        )

    get = __getitem__ = __setitem__ = __delitem__ = __contains__ = pop = _closed
    __iter__ = __len__ = values = keys = items = _closed


class MemoryStore(Store):
    """The store contract in process memory.

    Args:
        name: the store's name, carried by its changes.
        clock: wall-clock seconds since the epoch (``time.time``); tests may
            pass a fake one to drive lazy expiry. The expiry task sleeps in
            real time.
    """

    backend = "memory"

    def __init__(self, name: str = "default", *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name)
        self._data: dict[str, SetChange] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._ttl_keys = 0
        self._seq = 0
        self._expired = 0
        self._clock = clock
        self._task_group: anyio.abc.TaskGroup | None = None
        self._wake: anyio.Event | None = None
        # The deadline the sleeping expiry task wakes at; -inf while none sleeps.
        self._next_wake = -math.inf
        self._closed = False

    # -- reading -------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        entry = self._data.get(key)
        if entry is None:
            if type(key) is not str or not key:
                raise bad_key(self.name, key)
            return default
        expires_at = entry.expires_at
        if expires_at is not None and expires_at <= self._clock():
            await self._expire_lazily(entry)
            return default
        return entry.value

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        if isinstance(keys, str):
            raise TypeError("get_many takes an iterable of keys, not one str; use get()")
        data = self._data
        now = self._clock()
        found: dict[str, Any] = {}
        expired: list[SetChange] = []
        for key in keys:
            entry = data.get(key)
            if entry is None:
                check_key(self.name, key)
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                expired.append(entry)
                continue
            found[key] = entry.value
        if expired:
            await self._expire_entries(expired, now)
        return found

    async def exists(self, key: str) -> bool:
        entry = self._data.get(key)
        if entry is None:
            check_key(self.name, key)
            return False
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            await self._expire_lazily(entry)
            return False
        return True

    async def entry(self, key: str) -> Entry | None:
        entry = self._data.get(key)
        if entry is None:
            check_key(self.name, key)
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            await self._expire_lazily(entry)
            return None
        return Entry.from_change(entry)

    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        match = compile_pattern(pattern).match
        self._check_open()
        return _Scan(self, [key for key in self._data if match(key)], batch_size)

    # -- writing -------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_version: int | None = None,
    ) -> int:
        name = self.name
        if type(key) is not str or not key:
            raise bad_key(name, key)
        kind = type(value)
        if kind not in _SCALARS and not (kind is int and INT_MIN <= value <= INT_MAX):
            check_value(name, key, value)
        meta = None if metadata is None else check_metadata(name, key, metadata)
        now = self._clock()
        if ttl is None:
            expires_at = None
        elif (type(ttl) is float or type(ttl) is int) and 0 < ttl < math.inf:
            expires_at = now + ttl
        else:
            expires_at = now + ttl_seconds(name, key, ttl)
        data = self._data
        old = data.get(key)
        stale = None
        if old is not None and old.expires_at is not None and old.expires_at <= now:
            stale, old = old, None
        if if_version is not None:
            actual = 0 if old is None else old.version
            if check_version(name, key, if_version) != actual:
                if stale is not None:
                    await self._expire_lazily(stale)
                raise VersionConflict(name, key, if_version, actual)
        expire = None if stale is None else self._commit_expire(stale, now)
        if old is not None and old.expires_at is not None:
            self._ttl_keys -= 1
        self._seq = seq = self._seq + 1
        if old is None:
            change = SetChange(name, key, 1, seq, now, value, now, meta, expires_at)
        else:
            change = SetChange(
                name, key, old.version + 1, seq, now, value, old.created_at, meta, expires_at
            )
        data[key] = change
        if expires_at is not None:
            self._ttl_keys += 1
            heapq.heappush(self._heap, (expires_at, seq, key))
            if expires_at < self._next_wake or len(self._heap) > 2 * self._ttl_keys + 1024:
                self._scheduled(expires_at)
        if self._hub.count:
            if expire is None:
                await self._hub.publish(change)
            else:
                await self._hub.publish_all((expire, change))
        return change.version

    async def set_many(
        self,
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        ttl: float | timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        name = self.name
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        for key, value in pairs:
            check_key(name, key)
            check_value(name, key, value)
        first = pairs[0][0] if pairs else ""
        meta = None if metadata is None else check_metadata(name, first, metadata)
        seconds = None if ttl is None else ttl_seconds(name, first, ttl)
        self._check_open()
        now = self._clock()
        expires_at = None if seconds is None else now + seconds
        changes: list[Change] = []
        for key, value in pairs:
            self._commit_set(key, value, meta, expires_at, None, now, changes)
        if self._hub.count:
            await self._hub.publish_all(changes)

    async def delete(self, key: str, *, if_version: int | None = None) -> bool:
        name = self.name
        entry = self._data.get(key)
        if entry is None:
            check_key(name, key)
        now = self._clock()
        expire = None
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            expire = self._commit_expire(entry, now)
            entry = None
        if if_version is not None:
            actual = 0 if entry is None else entry.version
            if check_version(name, key, if_version) != actual:
                if expire is not None:
                    await self._hub.publish(expire)
                raise VersionConflict(name, key, if_version, actual)
        if entry is None:
            if expire is not None:
                await self._hub.publish(expire)
            return False
        change = self._commit_delete(entry, now)
        await self._hub.publish(change)
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

    # -- whole state ---------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        now = self._clock()
        entries = [Entry.from_change(change) for change in self._current_state(_every_key, now)]
        return Snapshot(self.name, self._seq, now, entries)

    async def restore(self, snapshot: Snapshot) -> None:
        if not isinstance(snapshot, Snapshot):
            raise TypeError(
                f"restore() takes a Snapshot (from store.snapshot()), got {type(snapshot).__name__}"
            )
        name = self.name
        for item in snapshot.entries:
            check_key(name, item.key)
            check_value(name, item.key, item.value)
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
            meta = None if item.metadata is None else dict(item.metadata)
            self._commit_set(key, item.value, meta, item.expires_at, item.created_at, now, changes)
        if changes:
            await self._hub.publish_all(changes)

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            store=self.name,
            backend=self.backend,
            keys=0 if self._closed else len(self._data),
            seq=self._seq,
            ttl_keys=self._ttl_keys,
            subscriptions=self._hub.count - len(self._feeds),
            feeds=len(self._feeds),
            callback_errors=self._hub.callback_errors,
            expired=self._expired,
            running=self._task_group is not None,
            closed=self._closed,
        )

    def _current_state(
        self, match: Callable[[str], bool], now: float | None = None
    ) -> list[SetChange]:
        if now is None:
            now = self._clock()
        live = [
            change
            for key, change in self._data.items()
            if match(key) and (change.expires_at is None or change.expires_at > now)
        ]
        live.sort(key=_seq_of)
        return live

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
        """Commit one set (after expiring the old entry if due); append the changes.

        ``set`` inlines these steps: it is the hot path.
        """
        old = self._data.get(key)
        if old is not None and old.expires_at is not None:
            if old.expires_at <= now:
                changes.append(self._commit_expire(old, now))
                old = None
            else:
                self._ttl_keys -= 1
        self._seq = seq = self._seq + 1
        version = 1 if old is None else old.version + 1
        if created_at is None:
            created_at = now if old is None else old.created_at
        change = SetChange(self.name, key, version, seq, now, value, created_at, meta, expires_at)
        self._data[key] = change
        if expires_at is not None:
            self._schedule(expires_at, seq, key)
        changes.append(change)

    def _commit_delete(self, entry: SetChange, now: float) -> DeleteChange:
        del self._data[entry.key]
        if entry.expires_at is not None:
            self._ttl_keys -= 1
        self._seq = seq = self._seq + 1
        return DeleteChange(self.name, entry.key, entry.version, seq, now)

    def _commit_expire(self, entry: SetChange, now: float) -> ExpireChange:
        del self._data[entry.key]
        self._ttl_keys -= 1
        self._expired += 1
        self._seq = seq = self._seq + 1
        return ExpireChange(self.name, entry.key, entry.version, seq, now)

    # -- expiry --------------------------------------------------------------

    def _schedule(self, deadline: float, seq: int, key: str) -> None:
        self._ttl_keys += 1
        heapq.heappush(self._heap, (deadline, seq, key))
        self._scheduled(deadline)

    def _scheduled(self, deadline: float) -> None:
        """After a push: compact a heap grown stale; wake the expiry task if earlier."""
        if len(self._heap) > 2 * self._ttl_keys + 1024:
            self._compact_heap()
        if deadline < self._next_wake and self._wake is not None:
            self._wake.set()
            self._wake = None

    def _compact_heap(self) -> None:
        """Drop stale heap items (keys since replaced, deleted or expired)."""
        self._heap = [
            (change.expires_at, change.seq, change.key)
            for change in self._data.values()
            if change.expires_at is not None
        ]
        heapq.heapify(self._heap)

    async def _expire_lazily(self, entry: SetChange) -> None:
        change = self._commit_expire(entry, self._clock())
        await self._hub.publish(change)

    async def _expire_entries(self, entries: list[SetChange], now: float) -> None:
        data = self._data
        changes: list[Change] = []
        for entry in entries:
            if data.get(entry.key) is entry:
                changes.append(self._commit_expire(entry, now))
        await self._hub.publish_all(changes)

    def _pop_due(self, now: float) -> list[Change]:
        """Commit the expiries due at ``now`` (at most a batch) and return them."""
        heap, data = self._heap, self._data
        changes: list[Change] = []
        while heap and heap[0][0] <= now and len(changes) < _EXPIRE_BATCH:
            _, seq, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry.seq == seq:
                changes.append(self._commit_expire(entry, now))
        return changes

    async def _run_expiry(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        while True:
            now = self._clock()
            changes = self._pop_due(now)
            if changes:
                await self._hub.publish_all(changes)
                await anyio.lowlevel.checkpoint()
                continue
            self._wake = wake = anyio.Event()
            self._next_wake = self._heap[0][0] if self._heap else math.inf
            try:
                with anyio.move_on_after(self._next_wake - now):
                    await wake.wait()
            finally:
                self._wake = None
                self._next_wake = -math.inf

    # -- lifecycle -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            _Closed()._closed()

    async def __aenter__(self) -> MemoryStore:
        """Start the expiry task; on exit, stop it and close the store."""
        self._check_open()
        if self._task_group is not None:
            raise RuntimeError(f"store {self.name!r} is already running (entered twice)")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await task_group.start(self._run_expiry)
        except BaseException:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
            self._task_group = None
            raise
        return self

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        self._close_feeds()
        self._data = _Closed()
        self._heap = []
        self._ttl_keys = 0


def _every_key(key: str) -> bool:
    return True


def _seq_of(change: SetChange) -> int:
    return change.seq


class _Scan:
    """Keys matching at the start of the scan, yielded while still live."""

    __slots__ = ("_batch", "_keys", "_pos", "_store")

    def __init__(self, store: MemoryStore, keys: list[str], batch_size: int) -> None:
        self._store = store
        self._keys = keys
        self._batch = batch_size
        self._pos = 0

    def __aiter__(self) -> _Scan:
        return self

    async def __anext__(self) -> str:
        store, keys = self._store, self._keys
        while self._pos < len(keys):
            pos = self._pos
            self._pos = pos + 1
            if pos and pos % self._batch == 0:
                await anyio.lowlevel.checkpoint()
            key = keys[pos]
            entry = store._data.get(key)
            if entry is None:
                continue
            if entry.expires_at is not None and entry.expires_at <= store._clock():
                await store._expire_lazily(entry)
                continue
            return key
        raise StopAsyncIteration
