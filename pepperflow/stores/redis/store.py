"""RedisStore: state shared across processes and machines.

::

    async with RedisStore("redis://127.0.0.1:6379/0", namespace="app") as store:
        await store.set("user:1", {"name": "Ada"})

The state lives in Redis; every process that opens the same namespace sees
the same keys, and a subscriber in one process receives the changes every
process commits, in commit order (``seq``); docs/redis.md has the key
layout, the scripts and the faults. This module holds the contract's
methods; the rooms beside it hold the rest:

- :mod:`._scripts` / :mod:`._protocol`: every write is one Lua script (the
  entry, its version, its ttl and its changelog entry commit atomically;
  ``if_version`` is checked inside), which builds each change once: the
  msgpack bytes it appends to the changelog (a Redis Stream, ids
  ``0-<seq>``) are the bytes its reply carries;
- :mod:`._follower`: ordered delivery of every process's changes, a
  process's own before its write returns, others' read from the changelog;
- :mod:`._writes`: the writes' replies; :mod:`._decoding`: reads, typed;
- :mod:`._searching`: ``index=terms`` and ``find``; :mod:`._figures`: statistics;
- :mod:`._sweeper`: expiry (each expired key gets exactly one expire
  change, whichever process sweeps) and the key counts;
- :mod:`._commands`, :mod:`._drivers`: a write whose reply is lost raises
  :class:`~pepperflow.StoreUnavailable` (it may or may not have been
  applied); reads retry briefly first. redis-py's asyncio client on asyncio,
  coredis on trio, or a client you pass (made with
  ``decode_responses=False``; not closed by the store, and its retry policy
  is yours: a client that retries writes may apply a write twice).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from datetime import timedelta
from operator import attrgetter
from typing import Any, Self, TypeVar, overload

import anyio

from ..._lifecycle import TaskRunner
from ..._patterns import compile_pattern
from ..._redact import redacted
from ...sinks.metrics import MetricsRegistry
from ...streams.events import Change, SetChange
from .._checks import check_key, key_iterable
from .._codec import Metadata
from .._hub import Feed, Subscription
from .._lookup import IndexTerms
from ..base import Callback, Entry, Snapshot, Store
from ._batching import SetBatcher
from ._commands import Commands
from ._decoding import Decoding, Skipped
from ._drivers import DriverName
from ._figures import Figures
from ._follower import Follower
from ._marks import Marks
from ._opening import open_driver, start_driver
from ._options import Durability, check_options, replication_wait
from ._protocol import NoArgs, ScanArgs, redis_match
from ._scripts import GET_MANY, SCAN, SNAPSHOT
from ._searching import Searching
from ._sweeper import Counts, Sweeper
from ._target import target
from ._writes import Writes

__all__ = ["DriverName", "RedisStore"]

T = TypeVar("T")
D = TypeVar("D")

_by_seq = attrgetter("seq")


class RedisStore(Searching, Marks, Figures, Store[T]):
    """The store contract on Redis; see the module docstring.

    ``RedisStore(url, type=Msg)`` is a ``RedisStore[Msg]``: values set must
    be ``Msg`` instances, and every read, in this process or another that
    opens the namespace with the same type, decodes the stored bytes to
    ``Msg`` (see :mod:`._decoding` for bytes that no longer fit).

    Args:
        url: ``redis[s]://[[user]:password@]host[:port][/db]`` (TLS, password_env:
            :mod:`._target`), or a redis-py / coredis client (not closed by the store).
        namespace: the store's name; its keys share the hash tag
            ``{namespace}``, so it must not contain ``{`` or ``}``.
        type: the values' type (``Any`` by default: see
            :mod:`pepperflow.stores._codec` for both rules).
        metadata_type: the metadata's type (``dict[str, Any]`` by default).
        changelog_length: the changelog stream is trimmed to about this many
            entries; a follower further behind than this misses changes
            (logged as a gap).
        sweep_interval: seconds between expiry sweeps when no deadline is
            known nearer (deadlines of this process's writes, and of every
            process's keys after each sweep, are).
        driver: ``"auto"`` (redis-py on asyncio, coredis on trio),
            ``"redis-py"`` or ``"coredis"``; ignored when a client is given.
        durability: ``"acknowledged"``: a write returns once its primary has it;
            ``"replicated"``: once a replica has it too (``WAIT``), else it raises
            StoreUnavailable after ``replication_timeout`` (docs/redis.md).
        callback_timeout: as :class:`~pepperflow.stores.MemoryStore`'s.
        metrics: as :class:`~pepperflow.stores.MemoryStore`'s.
        index: as :class:`~pepperflow.stores.MemoryStore`'s; the index lives
            in Redis beside the entries (:mod:`._searching`).

    Use it with ``async with`` (or ``await store.aclose()``); operations
    on a store that is not open raise ``RuntimeError``.
    """

    backend = "redis"

    @overload
    def __init__(
        self: RedisStore[Any],
        url: str | Any = ...,
        *,
        namespace: str = ...,
        metadata_type: Any = ...,
        changelog_length: int = ...,
        sweep_interval: float = ...,
        driver: DriverName = ...,
        durability: Durability = ...,
        replication_timeout: float | timedelta = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self,
        url: str | Any = ...,
        *,
        namespace: str = ...,
        type: type[T],
        metadata_type: Any = ...,
        changelog_length: int = ...,
        sweep_interval: float = ...,
        driver: DriverName = ...,
        durability: Durability = ...,
        replication_timeout: float | timedelta = ...,
        callback_timeout: float | timedelta | None = ...,
        metrics: MetricsRegistry | None = ...,
        index: IndexTerms | None = ...,
    ) -> None: ...

    def __init__(
        self,
        url: str | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "default",
        type: Any = Any,
        metadata_type: Any = Metadata,
        changelog_length: int = 100_000,
        sweep_interval: float = 1.0,
        driver: DriverName = "auto",
        durability: Durability = "acknowledged",
        replication_timeout: float | timedelta = 1.0,
        callback_timeout: float | timedelta | None = None,
        metrics: MetricsRegistry | None = None,
        index: IndexTerms | None = None,
    ) -> None:
        check_options(namespace, changelog_length, sweep_interval, driver)
        super().__init__(
            namespace,
            type=type,
            metadata_type=metadata_type,
            callback_timeout=callback_timeout,
            metrics=metrics,
            index=index,
        )
        self._decoding: Decoding[T] = Decoding(self.codec)
        self.namespace = namespace
        self._url = target(url) if isinstance(url, str) else url  # ValueError: bad options
        self._driver_name: DriverName = driver
        self._state = "new"  # new -> open -> closed
        self._tasks = TaskRunner(repr(self))
        commands = self._commands = Commands(
            namespace, changelog_length, repr(self), self._check_open
        )
        commands.wait = replication_wait(durability, replication_timeout)
        self._counts = Counts()
        self._follower = follower = Follower(
            commands,
            self._decoding,
            self._hub,
            self._counts,
            self._note_deadline,
            float(sweep_interval),
        )
        self._sweeper = sweeper = Sweeper(commands, self._counts, follower, float(sweep_interval))
        self._writes = Writes(
            namespace, commands, self._hub, follower, sweeper, self._counts, self.index
        )
        self._batcher = SetBatcher(self._writes, follower)

    def _note_deadline(self, deadline: float) -> None:
        self._sweeper.note_deadline(deadline)

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError(f"{self!r} was already opened; make a new RedisStore")
        driver = open_driver(self._url, self._driver_name)
        self._commands.driver = driver
        self._state = "open"
        try:
            await self._tasks.open()
            await start_driver(self._tasks, self._commands, self._url, self._driver_name)
            await self._commands.load_scripts()
            head = await self._commands.probe()
            self._follower.start_at(head.seq)
            self._counts.take(head.seq, head.keys, head.ttl_keys)
            await self._open_index(head.indexed)
            # Each background task makes its connection before the store is
            # ready, so closing never cancels a connection half made.
            await self._tasks.start(self._follower.run)
            await self._tasks.start(self._sweeper.run)
            await self._tasks.start(self._hub.run_courier)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _shutdown(self) -> None:
        """Stop following and sweeping, close the connections we opened."""
        if self._state == "closed":
            return
        self._state = "closed"
        try:
            await self._tasks.aclose()
        finally:
            driver, self._commands.driver = self._commands.driver, None
            if driver is not None:
                with anyio.CancelScope(shield=True):
                    await driver.aclose()

    def _check_open(self) -> None:
        if self._state != "open":
            if self._state == "closed":
                raise anyio.ClosedResourceError(f"{self!r} is closed")
            raise RuntimeError(f"{self!r} is not open; use `async with RedisStore(...) as store:`")

    # -- reading -------------------------------------------------------------

    @overload
    async def get(self, key: str) -> T | None: ...

    @overload
    async def get(self, key: str, default: D) -> T | D: ...

    async def get(self, key: str, default: Any = None) -> Any:
        if type(key) is not str or not key or not key.isascii():
            key = check_key(self.name, key)
        sweeper = self._sweeper
        if sweeper.next_deadline <= time.time() + sweeper.clock_offset:
            await sweeper.sweep_due()
        blob = await self._commands.get(key)
        if blob is None:
            return default
        return self._decoding.value(blob, key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        wanted = list(dict.fromkeys(check_key(self.name, k) for k in key_iterable(self.name, keys)))
        await self._sweeper.sweep_due()
        if not wanted:
            self._check_open()
            return {}
        prefix = self._commands.prefix
        reply = await self._commands.read(GET_MANY, NoArgs(), [prefix + key for key in wanted])
        value = self._decoding.value
        blobs = zip(wanted, reply.items, strict=True)
        return {key: value(blob, key) for key, blob in blobs if blob}

    async def exists(self, key: str) -> bool:
        await self._sweeper.sweep_due()
        return await self._commands.get(check_key(self.name, key)) is not None

    async def entry(self, key: str) -> Entry[T] | None:
        await self._sweeper.sweep_due()
        blob = await self._commands.get(check_key(self.name, key))
        return None if blob is None else Entry.from_change(self._decoding.entry(blob, key))

    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        compiled = compile_pattern(pattern)
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._check_open()
        return self._scan(redis_match(compiled), batch_size)

    async def _scan(self, match: str, batch_size: int) -> AsyncIterator[str]:
        await self._sweeper.sweep_due()
        cursor = "0"
        seen: set[str] = set()
        while True:
            reply = await self._commands.read(SCAN, ScanArgs(cursor, match, batch_size))
            for raw in reply.items:
                key = raw.decode()
                if key not in seen:  # HSCAN may return a field twice
                    seen.add(key)
                    yield key
            cursor = reply.head.cursor
            if cursor == "0":
                return

    # -- writing -------------------------------------------------------------

    def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: Any,
        if_version: int | None,
    ) -> Coroutine[Any, Any, int]:
        args = self._writes.set_args(key, value, ttl, metadata, if_version)
        return self._batcher.set(args)

    async def _set_many(
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: Any,
    ) -> None:
        latest = dict(items)
        if not latest:
            self._check_open()
            return
        await self._writes.set_many(latest, ttl, metadata)

    async def _delete(self, key: str, if_version: int | None) -> bool:
        return await self._writes.delete_keys([key], if_version) > 0

    async def clear(self, pattern: str | None = None) -> int:
        compiled = compile_pattern(pattern)
        self._check_open()
        keys = [key async for key in self._scan(redis_match(compiled), 1000)]
        return await self._writes.delete_all(keys)

    async def snapshot(self) -> Snapshot:
        self._check_open()
        seq, now, entries = await self._snapshot()
        out: list[Entry[Any]] = []
        for change in entries:
            if type(change) is Skipped:
                raise change.error
            out.append(Entry.from_change(change))
        return Snapshot(self.name, seq, now, out)

    async def _snapshot(self) -> tuple[int, float, list[SetChange[T, Any] | Skipped]]:
        """The live entries at a seq, in commit order: a :class:`Skipped` for
        each that does not decode as the store's types."""
        reply = await self._commands.read(SNAPSHOT, NoArgs())
        decode = self._decoding.entry_or_skipped
        entries = [decode(blob) for blob in reply.items]
        entries.sort(key=_by_seq)  # commit order
        return reply.head.seq, reply.head.now, entries

    async def _restore(self, snapshot: Snapshot) -> None:
        self._check_open()
        wanted = {item.key for item in snapshot.entries}
        unwanted = [key async for key in self._scan("*", 1000) if key not in wanted]
        await self._writes.delete_all(unwanted)
        await self._writes.restore(snapshot.entries)

    # -- feeds and figures ---------------------------------------------------

    def subscribe(
        self, pattern: str | None, callback: Callback, *, exact: bool = False
    ) -> Subscription:
        """As :meth:`Store.subscribe`; receives the changes of every process,
        from the newest seq this process knows: up to ``sweep_interval``
        behind the server when nothing here was subscribed, so others'
        changes of that moment may arrive too (``changes(replay=True)``
        starts at an exact seq)."""
        sub = super().subscribe(pattern, callback, exact=exact)
        self._follower.listen()
        return sub

    async def _attach_feed(self, feed: Feed) -> None:
        """Subscribe ``feed`` at one seq: the state at that seq, then every later change."""
        self._check_open()
        follower = self._follower
        async with follower.lock:
            replay: list[Change] = []
            if feed.replay:
                seq, _, entries = await self._snapshot()
                replay = await follower.replay(seq, entries, feed.pattern.match)
            sub = self._hub.add_feed(feed)
            follower.listen()
        feed.attach(sub, replay)

    @property
    def location(self) -> str:
        """The server's URL, its password hidden."""
        return redacted(self._url.url)
