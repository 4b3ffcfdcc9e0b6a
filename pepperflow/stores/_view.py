"""The in-memory materialized view shared by MemoryStore and SqliteStore.

The state is a dict of key to its latest :class:`~pepperflow.streams.SetChange` (a store
is literally the latest change per key). TTLs live in one heap of ``(deadline, seq,
key)``, an item no later than each ttl key's deadline (see ``_pop_due``). While the store
runs, one task sleeps until the earliest deadline and has the backend commit the
expiries; an expired entry found on access is expired then. Reads are served from the
view; backends implement the writes (MemoryStore commits in memory; SqliteStore commits
to its file and applies what it committed).
"""

from __future__ import annotations

import heapq
import math
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from typing import Any, NoReturn, Self, TypeVar, overload

import anyio
import anyio.abc
import anyio.lowlevel

from .._patterns import compile_pattern
from ..sinks.metrics import MetricsRegistry
from ..streams.events import SetChange
from ._checks import check_key, key_iterable
from ._codec import Metadata
from ._indexed import Found, IndexedState, select
from ._lookup import IndexTerms, Lookup
from .base import Entry, Snapshot, Store, StoreStatistics

__all__ = ["ViewStore"]

_EXPIRE_BATCH = 1024  # expiries committed per step of the expiry task


class _Closed(dict[str, SetChange[Any, Any]]):
    """Stands in for the data of a closed store: any use raises."""

    def _closed(self, *args: object, **kwargs: object) -> NoReturn:
        raise anyio.ClosedResourceError("this store is closed; open it again to use it")

    get = __getitem__ = __setitem__ = __delitem__ = __contains__ = pop = _closed
    __iter__ = __len__ = values = keys = items = _closed


T = TypeVar("T")
D = TypeVar("D")


class ViewStore(Store[T]):
    """A store whose reads come from an in-memory view of its latest changes.

    Args:
        name: the store's name, carried by its changes.
        type: the values' type (``Any`` by default; see :class:`~pepperflow.stores.Store`).
        metadata_type: the metadata's type (``dict[str, Any]`` by default).
        clock: wall-clock seconds since the epoch (``time.time``); tests may
            pass a fake one to drive lazy expiry. The expiry task sleeps in
            real time.
        callback_timeout, metrics, index: as :class:`~pepperflow.stores.MemoryStore`'s.
    """

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
            callback_timeout=callback_timeout,
            metrics=metrics,
            index=index,
        )
        self._data: dict[str, SetChange[Any, Any]] = self._adopt({})
        self._heap: list[tuple[float, int, str]] = []
        self._ttl_keys = 0
        self._seq = 0
        self._expired = 0
        self._expiry_errors = 0  # failed expiry commits (a backend that can fail counts them)
        self._clock = clock
        self._task_group: anyio.abc.TaskGroup | None = None
        self._wake: anyio.Event | None = None
        # The deadline the sleeping expiry task wakes at; -inf while none sleeps.
        self._next_wake = -math.inf
        self._closed = False

    # -- reading -------------------------------------------------------------

    @overload
    async def get(self, key: str) -> T | None: ...

    @overload
    async def get(self, key: str, default: D) -> T | D: ...

    # A read looks the key up first and checks it only when it is not found
    # (a key found is one a write checked; a str subclass's text finds its
    # entry): the hot path is one dict lookup.

    async def get(self, key: str, default: Any = None) -> Any:
        try:
            entry = self._data.get(key)
        except TypeError:  # unhashable: a key only if a str subclass's text
            entry = self._data.get(check_key(self.name, key))
        if entry is None:
            if type(key) is not str or not key or not key.isascii():
                check_key(self.name, key)
            return default
        expires_at = entry.expires_at
        if expires_at is not None and expires_at <= self._clock():
            await self._expire_lazily(entry)
            return default
        return entry.value

    async def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        data = self._data
        now = self._clock()
        found: dict[str, Any] = {}
        expired: list[SetChange[Any, Any]] = []
        for key in key_iterable(self.name, keys):
            if type(key) is not str:
                key = check_key(self.name, key)
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
        entry = self._found(key)
        if entry is None:
            return False
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            await self._expire_lazily(entry)
            return False
        return True

    async def entry(self, key: str) -> Entry[T] | None:
        entry = self._found(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            await self._expire_lazily(entry)
            return None
        return Entry.from_change(entry)

    def _found(self, key: str) -> SetChange[Any, Any] | None:
        """The latest set of ``key`` (live or expired), or ``None``.

        Raises:
            InvalidKey: ``key`` is not found and is not a key.
        """
        try:
            entry = self._data.get(key)
        except TypeError:  # unhashable: a key only if a str subclass's text
            entry = self._data.get(check_key(self.name, key))
        if entry is None:
            check_key(self.name, key)
        return entry

    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        match = compile_pattern(pattern).match
        self._check_open()
        return _Scan(self, [key for key in self._data if match(key)], batch_size)

    async def snapshot(self) -> Snapshot:
        now = self._clock()
        entries = [Entry.from_change(change) for change in self._current_state(_every_key, now)]
        return Snapshot(self.name, self._seq, now, entries)

    def find(self, lookup: Lookup) -> AsyncIterator[Entry[T]]:
        self._check_open()
        if not isinstance(self._data, IndexedState):
            raise self._no_index()
        return Found(select(self._data, lookup, self._clock()), self._clock)

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            store=self.name,
            backend=self.backend,
            keys=0 if self._closed else len(self._data),
            seq=self._seq,
            ttl_keys=self._ttl_keys,
            subscriptions=self._hub.subscriptions,
            feeds=len(self._hub.feeds),
            callback_errors=self._hub.callback_errors,
            feed_figures=self._hub.feed_figures(),
            expired=self._expired,
            expiry_errors=self._expiry_errors,
            running=self._task_group is not None,
            closed=self._closed,
        )

    def _current_state(
        self, match: Callable[[str], bool], now: float | None = None
    ) -> list[SetChange[Any, Any]]:
        if now is None:
            now = self._clock()
        live = [
            change
            for key, change in self._data.items()
            if match(key) and (change.expires_at is None or change.expires_at > now)
        ]
        live.sort(key=_seq_of)
        return live

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

    async def _run_expiry(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        while True:
            now = self._clock()
            if await self._expire_due(now):
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

    def _pop_due(self, now: float) -> list[SetChange[Any, Any]]:
        """Pop the heap items due at ``now`` (a batch at most); their live entries due. A key
        set again with a later deadline keeps its item, which, popped, pushes the new one."""
        heap, data = self._heap, self._data
        due: dict[str, SetChange[Any, Any]] = {}
        for _ in range(_EXPIRE_BATCH):  # items looked at: a step holds the loop for a batch
            if not heap or heap[0][0] > now:
                break
            _, _, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is None or entry.expires_at is None or key in due:
                continue
            if entry.expires_at <= now:
                due[key] = entry
            else:
                heapq.heappush(heap, (entry.expires_at, entry.seq, key))
        return list(due.values())

    def _push_back(self, entries: list[SetChange[Any, Any]]) -> None:
        """Put entries :meth:`_pop_due` gave back in the heap: their expiry failed
        to commit, and the expiry task is to pop them again (for a retry)."""
        for entry in entries:
            if entry.expires_at is not None:
                heapq.heappush(self._heap, (entry.expires_at, entry.seq, entry.key))

    @abstractmethod
    async def _expire_due(self, now: float) -> bool:
        """Commit and publish the expiries due at ``now``; return whether there were any."""

    @abstractmethod
    async def _expire_lazily(self, entry: SetChange[Any, Any]) -> None:
        """Commit and publish the expiry of ``entry``, found expired on access."""

    @abstractmethod
    async def _expire_entries(self, entries: list[SetChange[Any, Any]], now: float) -> None:
        """Commit and publish the expiry of ``entries`` that are still current."""

    # -- lifecycle -----------------------------------------------------------

    async def _open(self, task_group: anyio.abc.TaskGroup) -> None:
        """Backend hook: acquire resources and start tasks before the store runs."""

    async def _close(self) -> None:
        """Backend hook: release resources after the background tasks stopped."""

    def _check_open(self) -> None:
        if self._closed:
            _Closed()._closed()

    async def __aenter__(self) -> Self:
        """Open the store and start its background tasks; on exit, close it."""
        self._check_open()
        if self._task_group is not None:
            raise RuntimeError(f"store {self.name!r} is already running (entered twice)")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self._open(task_group)
            await task_group.start(self._hub.run_courier)
            await task_group.start(self._run_expiry)
        except BaseException:
            task_group.cancel_scope.cancel()
            self._task_group = None
            try:
                await task_group.__aexit__(None, None, None)
            finally:
                await self._close()
            raise
        return self

    async def _shutdown(self) -> None:
        """Stop the background tasks, then release the backend's resources.

        The resources are released whatever the tasks raised (a background
        task that failed, a cancellation): :meth:`_close` always runs, and
        then what the tasks raised propagates.
        """
        if self._closed:
            return
        self._closed = True
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            try:
                await self._close()
            finally:
                self._data = _Closed()
                self._heap = []
                self._ttl_keys = 0


def _every_key(key: str) -> bool:
    return True


def _seq_of(change: SetChange[Any, Any]) -> int:
    return change.seq


class _Scan:
    """Keys matching at the start of the scan, yielded while still live."""

    __slots__ = ("_batch", "_keys", "_pos", "_store")

    def __init__(self, store: ViewStore[Any], keys: list[str], batch_size: int) -> None:
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
