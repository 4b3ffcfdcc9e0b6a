"""RedisStore: state shared across processes and machines.

::

    async with RedisStore("redis://127.0.0.1:6379/0", namespace="app") as store:
        await store.set("user:1", {"name": "Ada"})

The state lives in Redis; every process that opens the same namespace sees
the same keys, and a subscriber in one process receives the changes every
process commits, in commit order (``seq``).

**Writes** are Lua scripts (``EVALSHA``, reloaded on ``NOSCRIPT``): the
entry, its version, its ttl and its changelog entry commit atomically.
``if_version`` is checked inside the script. Values are msgpack.

**The changelog** is a Redis Stream per namespace whose entry ids are
``0-<seq>``, trimmed approximately to ``changelog_length`` entries. While
the store is open, a follower task reads it (``XREAD BLOCK``) and hands the
changes of every process to the subscribers and feeds, in seq order; a
process's own writes are delivered before the write returns (after any
earlier change from another process it had not delivered yet).
``changes(replay=True)`` reads the state and its seq atomically and follows
from that seq: no gap, no duplicate.

**Expiry**: a key with a ttl carries Redis's own expiry (reads never see it
after its deadline) and an entry in the namespace's expiry index (a sorted
set). Every open store sweeps the index with an atomic script at the next
deadline it knows of (and every ``sweep_interval`` seconds), so each
expired key gets exactly one expire change, whichever process sweeps
first. Keyspace notifications are not used.

**Keys** of namespace ``ns`` share the hash tag ``{ns}`` (one cluster
slot)::

    pf:{ns}:log    the changelog stream     pf:{ns}:exp   key -> deadline
    pf:{ns}:meta   key -> created, ttl flag, version; '' -> the last seq
    pf:{ns}:k:<key>  the entry (a string: the encoded last set)

**Faults**: the client reconnects on the next command. A write whose reply
is lost raises :class:`~pepperflow.StoreUnavailable` (it was not
acknowledged; it may or may not have been applied); reads retry briefly
first. The follower resumes from the last seq it read, so subscribers get
no gap and no duplicate across a server restart, as long as the server kept
its data (AOF or replication) and the changelog was not trimmed past it.

**Drivers**: redis-py's asyncio client on asyncio (hiredis when installed),
coredis on trio (and on asyncio with ``driver="coredis"``). Pass a URL, or a
``redis.asyncio.Redis`` / ``coredis.Redis`` client you already have (made
with ``decode_responses=False``; the store does not close it, and its retry
policy is yours: a client that retries writes may apply a write twice).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from functools import partial
from operator import attrgetter
from typing import Any, Literal, Self, TypeVar

import anyio
import anyio.abc
import msgspec
import sniffio

from .._errors import MissingExtra, StoreUnavailable, VersionConflict
from .._patterns import Pattern, compile_pattern
from ..streams.events import Change, DeleteChange, SetChange
from ._checks import check_key, check_value
from ._hub import Feed, Subscription
from ._redis_driver import CoredisDriver, Driver, RedisPyDriver
from ._redis_scripts import SCRIPTS, Script
from .base import (
    Callback,
    Entry,
    Snapshot,
    Store,
    StoreStatistics,
)

__all__ = ["RedisStore"]

logger = logging.getLogger("pepperflow")

DriverName = Literal["auto", "redis-py", "coredis"]
_T = TypeVar("_T")

_DECODE_BATCH = msgspec.msgpack.Decoder(list[Change])
_DECODE_SET = msgspec.msgpack.Decoder(SetChange)
_by_seq = attrgetter("seq")
_DECODE_FLOAT = msgspec.msgpack.Decoder(float).decode


class _Value(msgspec.Struct):
    value: Any = None


_DECODE_VALUE = msgspec.msgpack.Decoder(_Value)


class _Head(msgspec.Struct):
    """What the client encodes of a SetChange; the script appends the rest."""

    kind: str
    store: str
    key: str
    value: Any
    metadata: dict[str, Any] | None


_ENCODE = msgspec.msgpack.Encoder().encode
_READ_RETRIES = 3
_FOLLOW_BLOCK_MS = 1000
_FOLLOW_COUNT = 1000
_READ_BACK_NAP = 0.001  # seconds
_SWEEP_LIMIT = 1000
_DELETE_BATCH = 500


class RedisStore(Store):
    """The store contract on Redis; see the module docstring.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` (or ``rediss://``),
            or a redis-py / coredis client to use (not closed by the store).
        namespace: the store's name; its keys share the hash tag
            ``{namespace}``, so it must not contain ``{`` or ``}``.
        changelog_length: the changelog stream is trimmed to about this many
            entries; a follower further behind than this misses changes
            (logged as a gap).
        sweep_interval: seconds between expiry sweeps when no deadline is
            known nearer (deadlines of this process's writes, and of every
            process's keys after each sweep, are).
        driver: ``"auto"`` (redis-py on asyncio, coredis on trio),
            ``"redis-py"`` or ``"coredis"``; ignored when a client is given.

    Use it with ``async with`` (or ``await store.aclose()``); operations
    on a store that is not open raise ``RuntimeError``.
    """

    backend = "redis"

    def __init__(
        self,
        url: str | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "default",
        changelog_length: int = 100_000,
        sweep_interval: float = 1.0,
        driver: DriverName = "auto",
    ) -> None:
        if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(
                f"RedisStore namespace must be a non-empty str without '{{' or '}}'"
                f" (it becomes the keys' hash tag), got {namespace!r}"
            )
        if type(changelog_length) is not int or changelog_length < 1:
            raise ValueError(f"changelog_length must be an int >= 1, got {changelog_length!r}")
        if not isinstance(sweep_interval, int | float) or not 0 < sweep_interval < math.inf:
            raise ValueError(f"sweep_interval must be positive seconds, got {sweep_interval!r}")
        if driver not in ("auto", "redis-py", "coredis"):
            raise ValueError(f"driver must be 'auto', 'redis-py' or 'coredis', got {driver!r}")
        super().__init__(namespace)
        self.namespace = namespace
        self._url = url
        self._driver_name = driver
        self._maxlen = changelog_length
        self._sweep_interval = float(sweep_interval)
        tag = f"pf:{{{namespace}}}:"
        self._base_keys = [tag + "log", tag + "meta", tag + "exp"]
        self._old_seq_key = tag + "seq"  # an earlier layout's; refused at open
        self._log_key = tag + "log"
        self._prefix = tag + "k:"
        self._args = [namespace, changelog_length, self._prefix]
        self._driver: Driver | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._state = "new"  # new -> open -> closed
        # seq bookkeeping: the newest seq known, the last one read by the
        # follower, the last one delivered to subscribers.
        self._seq = 0
        self._read = 0
        self._delivered = 0
        self._known: dict[int, Change] = {}
        self._deliver_lock = anyio.Lock(fast_acquire=True)
        self._keys = 0
        self._ttl_keys = 0
        # keys/ttl_keys are an absolute figure read at seq _counted_at plus
        # this process's own writes committed after it (kept until a newer
        # figure covers them), so replies that cross on different
        # connections count each write once.
        self._counted_at = -1
        self._deltas: list[tuple[int, int, int]] = []
        self._expired = 0
        self._clock_offset = 0.0  # server time - local time
        self._next_deadline = math.inf
        self._wake_sweeper = anyio.Event()
        self._listening = anyio.Event()  # set when a subscriber or feed arrives
        self._sweep_lock = anyio.Lock(fast_acquire=True)
        self._writing = 0  # write scripts of this process awaiting their reply
        self._sweeping = False
        self._noted_while_sweeping = math.inf

    # -- lifecycle -----------------------------------------------------------

    def _make_driver(self) -> Driver:
        url = self._url
        if not isinstance(url, str):
            return _driver_for_client(url)
        try:
            backend = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:  # pragma: no cover - always in a loop
            backend = "asyncio"
        name = self._driver_name
        if name == "auto":
            name = "redis-py" if backend == "asyncio" else "coredis"
        if name == "redis-py" and backend != "asyncio":
            raise RuntimeError(
                "redis-py's asyncio client runs on asyncio only; use driver='coredis'"
                " (or 'auto') on trio"
            )
        try:
            if name == "redis-py":
                return RedisPyDriver.from_url(url)
            return CoredisDriver.from_url(url)
        except ModuleNotFoundError as exc:
            raise MissingExtra(
                f"RedisStore needs {exc.name!r}: pip install 'pepperflow[redis]'"
            ) from exc

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError(f"{self!r} was already opened; make a new RedisStore")
        driver = self._make_driver()
        self._driver = driver
        self._state = "open"
        task_group = self._task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await task_group.start(driver.run)
            try:
                for script in SCRIPTS.values():
                    await driver.script_load(script.source)
            except driver.connection_errors as exc:
                raise StoreUnavailable(f"{self!r}: cannot reach Redis: {exc}") from exc
            seq, keys, ttl_keys, supported, old_layout = await self._eval(
                SCRIPTS["status"], (), ("probe", self._old_seq_key)
            )
            if not supported:
                raise StoreUnavailable(
                    f"{self!r}: the Redis server lacks ZMSCORE and SET ... PXAT;"
                    " RedisStore needs Redis 6.2 or newer"
                )
            if old_layout:
                raise StoreUnavailable(
                    f"{self!r}: namespace {self.namespace!r} holds keys in the layout of an"
                    f" earlier pepperflow development build ({self._old_seq_key} exists);"
                    f" delete its keys (pf:{{{self.namespace}}}:*) or use another namespace"
                )
        except BaseException:
            await self.aclose()
            raise
        self._seq = self._read = self._delivered = int(seq)
        self._count(int(seq), int(keys), int(ttl_keys))
        # Each background task makes its connection before the store is ready,
        # so closing never cancels a connection half made.
        try:
            await task_group.start(self._follow)
            await task_group.start(self._sweep_loop)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _shutdown(self) -> None:
        """Stop following and sweeping, close the connections we opened."""
        if self._state == "closed":
            return
        self._state = "closed"
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            driver, self._driver = self._driver, None
            if driver is not None:
                with anyio.CancelScope(shield=True):
                    await driver.aclose()

    def _check_open(self) -> None:
        if self._state != "open":
            if self._state == "closed":
                raise anyio.ClosedResourceError(f"{self!r} is closed")
            raise RuntimeError(f"{self!r} is not open; use `async with RedisStore(...) as store:`")

    # -- commands ------------------------------------------------------------

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` on the base keys + ``keys``; reload it on NOSCRIPT."""
        driver = self._driver
        if driver is None:
            self._check_open()
            raise AssertionError("unreachable")
        all_keys = [*self._base_keys, *keys]
        all_args = [*self._args, *args]
        writes = script.writes
        if writes:
            self._writing += 1
        try:
            try:
                return await driver.evalsha(script.sha, all_keys, all_args)
            except driver.noscript_error:
                # The server lost its script cache (a restart): nothing ran.
                await driver.script_load(script.source)
                return await driver.evalsha(script.sha, all_keys, all_args)
        except driver.connection_errors as exc:
            raise StoreUnavailable(
                f"{self!r}: the connection to Redis failed during {script.name}: {exc}"
            ) from exc
        finally:
            if writes:
                self._writing -= 1

    async def _read_eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """A read-only script, retried on connection errors before giving up."""
        return await self._retrying(partial(self._eval, script, keys, args))

    async def _read_entry(self, entry_key: str) -> bytes | None:
        """An entry's encoded last set, retried on connection errors."""
        return await self._retrying(partial(self._get_entry, entry_key))

    async def _get_entry(self, entry_key: str) -> bytes | None:
        driver = self._driver
        if driver is None:
            self._check_open()
            raise AssertionError("unreachable")
        try:
            return await driver.get(entry_key)
        except driver.connection_errors as exc:
            raise StoreUnavailable(f"{self!r}: cannot reach Redis to read: {exc}") from exc

    async def _retrying(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``read``; on StoreUnavailable retry it with a short backoff, then give up."""
        for attempt in range(_READ_RETRIES - 1):
            try:
                return await read()
            except StoreUnavailable:
                await anyio.sleep(0.05 * 2**attempt)
        return await read()

    # -- reading -------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        if type(key) is not str or not key:
            check_key(self.name, key)
        if self._next_deadline <= time.time() + self._clock_offset:
            await self._expire_if_due()
        blob = await self._read_entry(self._prefix + key)
        if blob is None:
            return default
        return _DECODE_VALUE.decode(blob).value

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(check_key(self.name, key) for key in keys))
        await self._expire_if_due()
        if not wanted:
            self._check_open()
            return {}
        blobs = await self._read_eval(
            SCRIPTS["get_many"], [self._prefix + key for key in wanted], ()
        )
        decode = _DECODE_VALUE.decode
        return {key: decode(blob).value for key, blob in zip(wanted, blobs, strict=True) if blob}

    async def exists(self, key: str) -> bool:
        await self._expire_if_due()
        return await self._read_entry(self._prefix + check_key(self.name, key)) is not None

    async def entry(self, key: str) -> Entry | None:
        await self._expire_if_due()
        blob = await self._read_entry(self._prefix + check_key(self.name, key))
        if blob is None:
            return None
        return Entry.from_change(_DECODE_SET.decode(blob))

    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        compiled = compile_pattern(pattern)
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._check_open()
        return self._scan(_redis_match(compiled), batch_size)

    async def _scan(self, match: str, batch_size: int) -> AsyncIterator[str]:
        await self._expire_if_due()
        cursor = b"0"
        seen: set[str] = set()
        while True:
            reply = await self._read_eval(SCRIPTS["scan"], (), (cursor, match, batch_size))
            cursor = reply[0]
            for raw in reply[1:]:
                key = raw.decode()
                if key not in seen:  # HSCAN may return a field twice
                    seen.add(key)
                    yield key
            if cursor in (b"0", 0, "0"):
                return

    # -- writing -------------------------------------------------------------

    def _head(self, key: str, value: Any, meta: dict[str, Any] | None) -> bytes:
        try:
            return _ENCODE(_Head("set", self.name, key, value, meta))
        except (TypeError, OverflowError, ValueError):
            check_value(self.name, key, value)  # raises the clear error
            raise

    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        name, seconds, meta = self.name, ttl, metadata
        head = self._head(key, value, meta)
        reply = await self._eval(
            SCRIPTS["set"],
            (),
            (
                "" if seconds is None else repr(seconds),
                "" if if_version is None else if_version,
                "",
                "",
                key,
                head[1:],
            ),
        )
        if reply[0] == 0:
            self._conflict(reply)
            raise VersionConflict(name, key, if_version or 0, int(reply[1]))
        changes = self._set_changes(reply, [(key, value)], meta)
        await self._committed(changes, reply)
        return changes[0].version

    def _set_changes(
        self, reply: list[Any], items: Sequence[tuple[str, Any]], meta: dict[str, Any] | None
    ) -> list[Change]:
        now = float(reply[3])
        expires = float(reply[5]) if reply[5] else None
        name = self.name
        out: list[Change] = []
        for i, (key, value) in enumerate(items):
            version, seq, created = reply[6 + 3 * i : 9 + 3 * i]
            out.append(
                SetChange(
                    name,
                    key,
                    int(version),
                    int(seq),
                    now,
                    value,
                    _DECODE_FLOAT(created),
                    meta,
                    expires,
                )
            )
        if expires is not None:
            self._note_deadline(expires)
        return out

    async def _set_many(
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        name, seconds, meta = self.name, ttl, metadata
        latest = dict(items)
        if not latest:
            self._check_open()
            return
        first = next(iter(latest))
        try:
            heads = [_ENCODE(_Head("set", name, key, v, meta)) for key, v in latest.items()]
        except (TypeError, OverflowError, ValueError):
            for key, v in latest.items():
                self._head(key, v, meta)  # raises the clear error for the first bad value
            raise
        details = bool(self._hub.count)  # each key's version and seq, for the changes
        ttl_arg = "" if seconds is None else repr(seconds)
        if len(heads) == 1:
            reply = await self._eval(SCRIPTS["set"], (), (ttl_arg, "", "", "", first, heads[0][1:]))
        else:
            reply = await self._eval(
                SCRIPTS["set_many"],
                (),
                (ttl_arg, _ENCODE(list(latest)), _str_array(heads), "1" if details else ""),
            )
        if not details:
            # Nobody to deliver to: skip building the changes (a subscriber
            # added meanwhile gets them from the changelog).
            self._record(reply)
            if reply[5]:
                self._note_deadline(float(reply[5]))
            return
        changes = self._set_changes(reply, list(latest.items()), meta)
        await self._committed(changes, reply)

    async def _delete(self, key: str, if_version: int | None) -> bool:
        name = self.name
        reply = await self._eval(
            SCRIPTS["delete"], (self._prefix + key,), ("" if if_version is None else if_version,)
        )
        if reply[0] == 0:
            self._conflict(reply)
            raise VersionConflict(name, key, if_version or 0, int(reply[1]))
        changes = self._delete_changes(reply, [key])
        await self._committed(changes, reply)
        return bool(changes)

    def _delete_changes(self, reply: list[Any], keys: Sequence[str]) -> list[Change]:
        now = float(reply[3])
        out: list[Change] = []
        for i, key in enumerate(keys):
            version, seq = int(reply[5 + 2 * i]), int(reply[6 + 2 * i])
            if seq:
                out.append(DeleteChange(self.name, key, version, seq, now))
        return out

    async def clear(self, pattern: str | None = None) -> int:
        compiled = compile_pattern(pattern)
        self._check_open()
        keys = [key async for key in self._scan(_redis_match(compiled), 1000)]
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            reply = await self._eval(SCRIPTS["delete"], [self._prefix + k for k in batch], ("",))
            changes = self._delete_changes(reply, batch)
            deleted += len(changes)
            await self._committed(changes, reply)
        return deleted

    async def snapshot(self) -> Snapshot:
        self._check_open()
        seq, now, entries = await self._snapshot()
        return Snapshot(self.name, seq, now, [Entry.from_change(c) for c in entries])

    async def _snapshot(self) -> tuple[int, float, list[SetChange]]:
        reply = await self._read_eval(SCRIPTS["snapshot"], (), ())
        decode = _DECODE_SET.decode
        entries = [decode(blob) for blob in reply[2:]]
        entries.sort(key=_by_seq)  # commit order
        return int(reply[0]), float(reply[1]), entries

    async def _restore(self, snapshot: Snapshot) -> None:
        heads: list[tuple[Entry, bytes]] = []
        for item in snapshot.entries:
            meta = None if item.metadata is None else dict(item.metadata)
            heads.append((item, self._head(item.key, item.value, meta)))
        self._check_open()
        wanted = {item.key for item, _ in heads}
        stale = [key async for key in self._scan("*", 1000) if key not in wanted]
        for start in range(0, len(stale), _DELETE_BATCH):
            batch = stale[start : start + _DELETE_BATCH]
            reply = await self._eval(SCRIPTS["delete"], [self._prefix + k for k in batch], ("",))
            await self._committed(self._delete_changes(reply, batch), reply)
        now = time.time() + self._clock_offset
        for item, head in heads:
            if item.expires_at is not None and item.expires_at <= now:
                continue
            reply = await self._eval(
                SCRIPTS["set"],
                (),
                (
                    "",
                    "",
                    "" if item.expires_at is None else repr(item.expires_at),
                    repr(item.created_at),
                    item.key,
                    head[1:],
                ),
            )
            meta = None if item.metadata is None else dict(item.metadata)
            await self._committed(self._set_changes(reply, [(item.key, item.value)], meta), reply)

    # -- delivery ------------------------------------------------------------

    def _record(self, reply: list[Any]) -> None:
        """Record a write's figures: its last seq (0: it changed nothing), the
        server's clock, and how it changed the counts of keys and of keys with
        a ttl (a sweep or a status read sets them absolutely)."""
        self._clock_offset = float(reply[3]) - time.time()
        self._advance(int(reply[4]), int(reply[1]), int(reply[2]))

    def _conflict(self, reply: list[Any]) -> None:
        """Record a refused compare-and-set (an expiry due may have committed)."""
        self._advance(int(reply[4]), int(reply[2]), int(reply[3]))

    def _advance(self, last: int, keys: int, ttl_keys: int) -> None:
        self._count_delta(last, keys, ttl_keys)
        self._learn_seq(last)

    def _learn_seq(self, seq: int) -> None:
        """A seq committed by now; with nobody to deliver to, delivery moves
        there too, so a new subscriber starts after it."""
        if seq > self._seq:
            self._seq = seq
        if not self._hub.count:
            if seq > self._delivered:
                self._delivered = seq
            self._known.clear()

    def _count_delta(self, seq: int, keys: int, ttl_keys: int) -> None:
        """Add one write's change of the counts unless the figure already has it."""
        if (keys or ttl_keys) and seq > self._counted_at:
            self._keys += keys
            self._ttl_keys += ttl_keys
            self._deltas.append((seq, keys, ttl_keys))

    def _count(self, seq: int, keys: int, ttl_keys: int) -> None:
        """Take counts read at ``seq``, plus the own writes committed after it."""
        if seq < self._counted_at:
            return  # an older figure than the one held
        self._counted_at = seq
        later = self._deltas = [delta for delta in self._deltas if delta[0] > seq]
        self._keys = keys + sum(delta[1] for delta in later)
        self._ttl_keys = ttl_keys + sum(delta[2] for delta in later)

    async def _committed(self, changes: list[Change], reply: list[Any]) -> None:
        """Record a commit's figures, then deliver its changes in seq order."""
        self._record(reply)
        last = changes[-1].seq if changes else 0
        if not changes or not self._hub.count:
            return
        delivered = self._delivered
        known = self._known
        for change in changes:
            if change.seq > delivered:
                known[change.seq] = change
        # Committed; if an earlier change cannot be read to keep the order,
        # the follower delivers both once Redis answers again.
        with contextlib.suppress(StoreUnavailable):
            await self._deliver(last)

    async def _deliver(self, upto: int) -> None:
        """Deliver every change up to seq ``upto`` (and any known after it), in order."""
        if self._hub.delivering_here():
            return  # a write from inside a callback: the running delivery takes it next
        async with self._deliver_lock:
            await self._deliver_locked(upto)

    async def _deliver_locked(self, upto: int) -> None:
        known = self._known
        hub = self._hub
        if not hub.count:
            self._delivered = max(self._delivered, upto)
            known.clear()
            return
        while True:
            nxt = self._delivered + 1
            change = known.pop(nxt, None)
            if change is None:
                if nxt > upto:
                    return
                await self._fetch(nxt, upto)
                continue
            self._delivered = nxt
            if hub.count:
                await hub.publish(change)

    async def _range(self, first: int, last: int) -> tuple[int, list[Change]]:
        """The changes ``first..last`` still in the changelog, and its oldest seq."""
        reply = await self._read_eval(SCRIPTS["range"], (), (first, last, last - first + 1))
        changes: list[Change] = []
        at = 1
        while at < len(reply):
            count = int(reply[at + 1])
            changes += _decode_changes(reply[at + 2 : at + 2 + count])
            at += 2 + count
        return int(reply[0]), [change for change in changes if first <= change.seq <= last]

    async def _fetch(self, first: int, last: int) -> None:
        """Read the changes ``first..last`` from the changelog into ``_known``."""
        oldest, changes = await self._range(first, last)
        known = self._known
        for change in changes:
            if change.seq > self._delivered and change.seq not in known:
                known[change.seq] = change
        if first not in known:
            # Trimmed from the changelog (or never there): skip to what exists.
            resume = min((s for s in known if s > first), default=last + 1)
            self._missed(first, resume - 1, oldest)
            self._delivered = resume - 1

    def _missed(self, first: int, last: int, oldest: int) -> None:
        logger.warning(
            "%r: changes %d..%d are no longer in the changelog (oldest kept: %d);"
            " subscribers miss them. Raise changelog_length if a follower falls this"
            " far behind.",
            self,
            first,
            last,
            oldest,
        )

    async def _follow(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Read the changelog and deliver other processes' changes.

        With no subscriber and no feed it parks, only refreshing the head
        seq every ``sweep_interval``, so writes are not read back for nobody.
        """
        driver = self._driver
        assert driver is not None
        pause = 0.05
        block = 1  # the first read only makes the connection
        while True:
            if block == _FOLLOW_BLOCK_MS and not self._hub.count:
                listening = self._listening = anyio.Event()
                with anyio.move_on_after(self._sweep_interval):
                    await listening.wait()
                if not self._hub.count:
                    with contextlib.suppress(StoreUnavailable):
                        await self._check_server_seq()
                    continue
            try:
                entries = await driver.xread(self._log_key, f"0-{self._read}", _FOLLOW_COUNT, block)
                if block != _FOLLOW_BLOCK_MS:
                    block = _FOLLOW_BLOCK_MS
                    task_status.started()
                if not entries and pause > 0.05:
                    await self._check_server_seq()
            except driver.connection_errors as exc:
                logger.warning("%r: changelog follower lost Redis (%s); retrying", self, exc)
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            except StoreUnavailable:
                await anyio.sleep(pause)
                continue
            pause = 0.05
            if not entries:
                continue
            last = int(entries[-1][0][2:])
            self._read = last
            if last > self._seq:
                self._seq = last
            if not self._hub.count:
                if last > self._delivered:
                    self._delivered = last
                continue
            if self._writing or last <= self._delivered:
                # This process is writing (each write delivers every change up
                # to its own, reading the others' from the changelog) or wrote
                # these: nap, so a busy writer is not read back write by write.
                # What remains undelivered after the nap is delivered below.
                await anyio.sleep(_READ_BACK_NAP)
                if last <= self._delivered:
                    continue
            known = self._known
            delivered = self._delivered
            for entry_id, blobs in entries:
                if int(entry_id[2:]) <= delivered:
                    continue
                for change in _decode_changes(blobs):
                    seq = change.seq
                    if seq > delivered and seq not in known:
                        known[seq] = change
                        if type(change) is SetChange and change.expires_at is not None:
                            self._note_deadline(change.expires_at)
            try:
                await self._deliver(last)
            except StoreUnavailable:
                continue

    async def _check_server_seq(self) -> None:
        """Learn the server's seq: move a parked follower to the head, and notice
        a server that lost its data (its seq went back)."""
        seq, keys, ttl_keys = await self._eval(SCRIPTS["status"], (), ())
        seq = int(seq)
        if seq < self._read:
            logger.error(
                "%r: the Redis server lost data (its seq is %d, this store had read %d);"
                " following from %d",
                self,
                seq,
                self._read,
                seq,
            )
            self._read = self._delivered = self._seq = seq
            self._known.clear()
            self._counted_at = -1
            self._deltas.clear()
        elif not self._hub.count:
            self._read = max(self._read, seq)
            self._learn_seq(seq)
        self._count(seq, int(keys), int(ttl_keys))

    def _note_deadline(self, deadline: float) -> None:
        if self._sweeping and deadline < self._noted_while_sweeping:
            self._noted_while_sweeping = deadline
        if deadline < self._next_deadline:
            self._next_deadline = deadline
            self._wake_sweeper.set()

    async def _sweep_loop(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        await self._sweep()
        task_status.started()
        while True:
            try:
                await self._sweep()
            except StoreUnavailable as exc:
                logger.warning("%r: expiry sweep could not reach Redis (%s)", self, exc)
                await anyio.sleep(min(self._sweep_interval, 0.5))
                continue
            now = time.time() + self._clock_offset
            delay = min(self._sweep_interval, max(0.0, self._next_deadline - now))
            if delay > 0:
                self._wake_sweeper = anyio.Event()
                with anyio.move_on_after(delay):
                    await self._wake_sweeper.wait()

    async def _sweep(self) -> None:
        """Expire the due keys (one atomic script); learn the next deadline.

        One sweep runs at a time. The next deadline is the index's earliest
        as the script saw it, or an earlier one this process learned that
        the script could not have seen (noted while it ran, or still ahead).
        """
        async with self._sweep_lock:
            before = self._next_deadline
            self._noted_while_sweeping = math.inf
            self._sweeping = True
            try:
                reply = await self._eval(SCRIPTS["sweep"], (), (_SWEEP_LIMIT,))
            finally:
                self._sweeping = False
            expired, keys, ttl_keys, nxt, seq, now = reply
            seq = int(seq)
            self._expired += int(expired)
            self._count(seq, int(keys), int(ttl_keys))
            still_ahead = before if before > float(now) else math.inf
            self._next_deadline = min(
                float(nxt) if nxt else math.inf, self._noted_while_sweeping, still_ahead
            )
            self._learn_seq(seq)
        if expired and self._hub.count:
            # Deliver the expire changes now rather than when the follower reads them.
            with contextlib.suppress(StoreUnavailable):
                await self._deliver(seq)

    async def _expire_if_due(self) -> None:
        """Before a read: commit and deliver the expiries already due (known deadlines)."""
        if self._next_deadline <= time.time() + self._clock_offset and self._state == "open":
            await self._sweep()

    # -- feeds and figures ---------------------------------------------------

    def subscribe(self, pattern: str | None, callback: Callback) -> Subscription:
        """As :meth:`Store.subscribe`; receives the changes of every process.

        It starts from the newest seq this process knows, which may trail
        the server by up to ``sweep_interval`` when nothing here was
        subscribed: changes committed by others in that moment before may
        arrive too. ``changes(replay=True)`` starts at an exact seq.
        """
        sub = super().subscribe(pattern, callback)
        self._listening.set()
        return sub

    async def _attach_feed(self, feed: Feed) -> None:
        """Subscribe ``feed`` at one seq: the state at that seq, then every later change."""
        self._check_open()
        async with self._deliver_lock:
            replay: list[Change] = []
            if feed.replay:
                seq, _, entries = await self._snapshot()
                # Hand the current subscribers everything up to that seq first.
                await self._deliver_locked(seq)
                match = feed.pattern.match
                replay.extend(change for change in entries if match(change.key))
                # With no subscriber, delivery may have moved past the snapshot
                # without us: the changes in between go to this feed too.
                while self._delivered > seq:
                    target = self._delivered
                    oldest, changes = await self._range(seq + 1, target)
                    if changes and changes[0].seq != seq + 1:
                        self._missed(seq + 1, changes[0].seq - 1, oldest)
                    replay.extend(change for change in changes if match(change.key))
                    seq = target
            sub = self._hub.add_feed(feed)
            self._listening.set()
        feed.attach(sub, replay)

    def statistics(self) -> StoreStatistics:
        """The figures this process knows: ``keys``/``ttl_keys`` as of its last
        sweep (at least every ``sweep_interval``) plus its own writes since
        (a write cancelled or failed before its reply came counts from the
        next sweep on), ``seq`` the newest change it has seen."""
        return StoreStatistics(
            store=self.name,
            backend=self.backend,
            keys=self._keys,
            seq=self._seq,
            ttl_keys=self._ttl_keys,
            subscriptions=self._hub.subscriptions,
            feeds=len(self._hub.feeds),
            callback_errors=self._hub.callback_errors,
            expired=self._expired,
            running=self._state == "open",
            closed=self._state == "closed",
        )

    def __repr__(self) -> str:
        return f"<RedisStore {self.namespace!r}>"


def _driver_for_client(client: Any) -> Driver:
    module = type(client).__module__
    if module.startswith("redis."):
        return RedisPyDriver(client, owned=False)
    if module.startswith("coredis"):
        return CoredisDriver(client, owned=False)
    raise TypeError(
        "RedisStore takes a redis:// URL, a redis.asyncio.Redis or a coredis.Redis client;"
        f" got {type(client).__name__}"
    )


def _array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items."""
    if count < 16:
        return bytes((0x90 + count,))
    if count < 65536:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def _decode_changes(blobs: Sequence[bytes]) -> list[Change]:
    """The changes of one changelog entry (a msgpack change per field)."""
    return _DECODE_BATCH.decode(_array_header(len(blobs)) + b"".join(blobs))


_STR8 = [b"\xd9" + bytes((size,)) for size in range(256)]  # msgpack str 8 headers


def _str_array(heads: Sequence[bytes]) -> bytes:
    """A msgpack array of ``heads``, each without its first byte (its map
    header) and as a msgpack str: the scripts split it with cmsgpack, which
    reads no bin."""
    parts = [_array_header(len(heads))]
    append = parts.append
    for head in heads:
        size = len(head) - 1
        if size < 256:
            append(_STR8[size])
        elif size < 65536:
            append(b"\xda" + size.to_bytes(2, "big"))
        else:
            append(b"\xdb" + size.to_bytes(4, "big"))
        append(head[1:])
    return b"".join(parts)


def _redis_match(pattern: Pattern) -> str:
    """The ``MATCH`` argument for a pattern (Redis's glob is the pattern rule)."""
    if pattern.is_glob:
        return pattern.source
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in pattern.prefix)
    return escaped + "*"
