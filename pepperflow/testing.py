"""Public conformance suites: ``check_store(make_store)`` for any backend,
``check_stream(make_operator)`` for any operator, and their helpers: marble
diagrams (``cold``, ``to_marbles``, ``record``) and virtual time
(``virtual_time_backend``); see docs/streams.md.

::

    from pepperflow.testing import check_store

    async def test_my_store():          # run it on asyncio and on trio
        await check_store(lambda: MyStore(...))

``make_store`` returns a new, **empty**, unopened store each call; the
suite opens it with ``async with`` (and, for the lazy-expiry check, uses one
without running it). Every check is also available on its own in
:data:`STORE_CHECKS` (name -> ``async def check(make_store)``), so a test
suite can parametrize over them for one report line each.

The suite needs Hypothesis (``pip install hypothesis``) for its property
test: random operations, after which the store's state must equal the fold
of the changes it emitted, and a feed that replayed then followed it (joined
mid-way) must converge to the same state.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import msgspec

from ._errors import (
    FeedOverflow,
    InvalidKey,
    InvalidPattern,
    InvalidTTL,
    UnencodableValue,
    VersionConflict,
)
from ._virtual_time import virtual_time_backend as virtual_time_backend
from .stores.base import Entry, Snapshot, Store
from .stores.feed import ChangeFeed
from .streams._checks import MakeOperator as MakeOperator
from .streams._checks import check_stream as check_stream
from .streams._marbles import ColdObservable as ColdObservable
from .streams._marbles import MarbleError as MarbleError
from .streams._marbles import cold as cold
from .streams._marbles import record as record
from .streams._marbles import to_marbles as to_marbles
from .streams.events import Change, ExpireChange, SetChange, fold

__all__ = [
    "ColdObservable",
    "MakeOperator",
    "MakeStore",
    "MarbleError",
    "PATTERN_CASES",
    "STORE_CHECKS",
    "StoreCheck",
    "check_store",
    "check_stream",
    "cold",
    "record",
    "to_marbles",
    "virtual_time_backend",
]

MakeStore = Callable[[], Store]
StoreCheck = Callable[[MakeStore], Awaitable[None]]

#: How long after its deadline an expire change may come while a store runs.
EXPIRY_SLACK = 0.5


class _Recorder:
    """A subscriber that keeps every change it receives."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def __call__(self, change: Change) -> None:
        self.changes.append(change)

    def kinds(self) -> list[tuple[str, str]]:
        return [(type(c).__name__, c.key) for c in self.changes]


def _value(change: Change) -> Any:
    assert isinstance(change, SetChange), f"expected a set, got {change!r}"
    return change.value


def _state(store_changes: list[Change]) -> dict[str, Any]:
    return {key: change.value for key, change in fold(store_changes).items()}


async def _all_items(store: Store) -> dict[str, Any]:
    keys = [key async for key in store.scan()]
    return await store.get_many(keys)


# -- the checks ---------------------------------------------------------------


async def check_basic_operations(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.get("missing") is None
        assert await store.get("missing", "fallback") == "fallback"
        assert not await store.exists("k")
        assert await store.set("k", "v1") == 1
        assert await store.get("k") == "v1"
        assert await store.exists("k")
        assert await store.set("k", "v2") == 2
        assert await store.get("k") == "v2"
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert await store.get("k") is None
        assert await store.set("k", "again") == 1, "a re-created key starts at version 1"
        await store.set("none", None)
        assert await store.exists("none"), "a key set to None exists"
        assert await store.get("none", "fallback") is None


async def check_value_round_trip(make_store: MakeStore) -> None:
    values: dict[str, Any] = {
        "str": "héllo ✓",
        "empty": "",
        "int": -(2**63),
        "big": 2**64 - 1,
        "float": 1.5,
        "bool": True,
        "bytes": b"\x00\xff",
        "list": [1, "two", [3.0], None],
        "dict": {"a": {"b": [1, 2]}, "c": None},
    }
    async with make_store() as store:
        for key, value in values.items():
            await store.set(key, value)
        for key, value in values.items():
            got = await store.get(key)
            assert got == value and type(got) is type(value), (key, got)


async def check_entry_bookkeeping(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.entry("k") is None
        await store.set("k", 1, metadata={"source": "test"})
        first = await store.entry("k")
        assert isinstance(first, Entry)
        assert (first.key, first.value, first.version) == ("k", 1, 1)
        assert first.metadata == {"source": "test"}
        assert first.expires_at is None
        assert first.created_at == first.updated_at
        await anyio.sleep(0.002)
        await store.set("k", 2, ttl=timedelta(seconds=30))
        second = await store.entry("k")
        assert second is not None
        assert second.version == 2
        assert second.created_at == first.created_at, "created_at is the key's creation"
        assert second.updated_at > first.updated_at
        assert second.metadata is None, "a set replaces the metadata"
        assert second.expires_at is not None
        assert 29 < second.expires_at - second.updated_at <= 30.001


async def check_compare_and_set(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = _Recorder()
        store.subscribe(None, feed)
        assert await store.set("k", "a", if_version=0) == 1
        try:
            await store.set("k", "b", if_version=0)
        except VersionConflict as exc:
            assert (exc.key, exc.expected, exc.actual) == ("k", 0, 1)
            assert "'k'" in str(exc)
        else:
            raise AssertionError("if_version=0 on an existing key must raise VersionConflict")
        assert await store.get("k") == "a", "a failed compare-and-set stores nothing"
        assert await store.set("k", "b", if_version=1) == 2
        for wrong in (1, 3):
            try:
                await store.delete("k", if_version=wrong)
            except VersionConflict:
                pass
            else:
                raise AssertionError(f"delete(if_version={wrong}) at version 2 must raise")
        assert await store.delete("k", if_version=2) is True
        assert feed.kinds() == [("SetChange", "k"), ("SetChange", "k"), ("DeleteChange", "k")]
        for bad in (-1, 1.0, "1"):
            try:
                await store.set("k", "x", if_version=bad)  # type: ignore[arg-type]
            except ValueError:
                pass
            else:
                raise AssertionError(f"if_version={bad!r} must raise ValueError")


async def check_concurrent_compare_and_set(make_store: MakeStore) -> None:
    """Tasks incrementing one counter with compare-and-set lose no update."""
    tasks, rounds = 8, 10

    async with make_store() as store:
        await store.set("counter", 0)

        async def increment() -> None:
            for _ in range(rounds):
                while True:
                    entry = await store.entry("counter")
                    assert entry is not None
                    await anyio.lowlevel.checkpoint()  # let the others interleave
                    try:
                        await store.set("counter", entry.value + 1, if_version=entry.version)
                        break
                    except VersionConflict:
                        continue

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(increment)
        assert await store.get("counter") == tasks * rounds


async def check_bad_keys(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = _Recorder()
        store.subscribe(None, feed)
        for bad in ("", 5, None, b"k", ("a",)):
            for operation in (
                lambda k: store.set(k, 1),
                lambda k: store.get(k),
                lambda k: store.exists(k),
                lambda k: store.delete(k),
                lambda k: store.entry(k),
                lambda k: store.set_many({k: 1}),
                lambda k: store.get_many([k]),
            ):
                try:
                    await operation(bad)
                except InvalidKey as exc:
                    assert isinstance(exc, ValueError)
                else:
                    raise AssertionError(f"key {bad!r} must raise InvalidKey")
        assert feed.changes == [], "a rejected write emits nothing"
        assert [key async for key in store.scan()] == []


async def check_bad_ttl(make_store: MakeStore) -> None:
    async with make_store() as store:
        for bad in (0, -1, math.nan, math.inf, timedelta(0), "5", True):
            try:
                await store.set("k", 1, ttl=bad)  # type: ignore[arg-type]
            except InvalidTTL as exc:
                assert "'k'" in str(exc)
            else:
                raise AssertionError(f"ttl={bad!r} must raise InvalidTTL")
            try:
                await store.set_many({"a": 1}, ttl=bad)  # type: ignore[arg-type]
            except InvalidTTL:
                pass
            else:
                raise AssertionError(f"set_many(ttl={bad!r}) must raise InvalidTTL")
        assert not await store.exists("k")
        assert not await store.exists("a")


async def check_unencodable_values(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = _Recorder()
        store.subscribe(None, feed)
        await store.set("k", "kept")
        for bad in (object(), lambda: 1, 2**64, -(2**63) - 1, [1, object()], {"k": object()}):
            try:
                await store.set("k", bad)
            except UnencodableValue as exc:
                assert isinstance(exc, TypeError)
                assert "'k'" in str(exc)
            else:
                raise AssertionError(f"value {bad!r} must raise UnencodableValue")
        for bad_meta in ({"m": object()}, {1: "x"}, ["not", "a", "mapping"]):
            try:
                await store.set("k", 1, metadata=bad_meta)  # type: ignore[arg-type]
            except UnencodableValue:
                pass
            else:
                raise AssertionError(f"metadata {bad_meta!r} must raise UnencodableValue")
        try:
            await store.set_many({"a": 1, "b": object()})
        except UnencodableValue:
            pass
        else:
            raise AssertionError("set_many with one bad value must raise")
        assert await store.get("k") == "kept"
        assert not await store.exists("a"), "set_many stores nothing when one value is bad"
        assert len(feed.changes) == 1


async def check_many(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.get_many([]) == {}
        await store.set_many({"a": 1, "b": [2], "c": {"x": 3}})
        await store.set_many([("d", 4)], metadata={"batch": 1})
        assert await store.get_many(["a", "b", "c", "d", "missing"]) == {
            "a": 1,
            "b": [2],
            "c": {"x": 3},
            "d": 4,
        }
        entry = await store.entry("d")
        assert entry is not None and entry.metadata == {"batch": 1}
        await store.set_many({"a": 10})
        entry = await store.entry("a")
        assert entry is not None and entry.version == 2


_PATTERN_KEYS = [
    "user:1",
    "user:2",
    "user:10",
    "user:",
    "users",
    "admin:1",
    "a*b",
    "a?b",
    "axb",
    "[x]",
    "x",
    "h\\llo",
]

#: (pattern, keys it matches): the rule every backend follows.
PATTERN_CASES: list[tuple[str | None, set[str]]] = [
    (None, set(_PATTERN_KEYS)),
    ("", set(_PATTERN_KEYS)),
    ("user:", {"user:1", "user:2", "user:10", "user:"}),
    ("user", {"user:1", "user:2", "user:10", "user:", "users"}),
    ("user:*", {"user:1", "user:2", "user:10", "user:"}),
    ("user:?", {"user:1", "user:2"}),
    ("user:[12]", {"user:1", "user:2"}),
    ("user:[^1]", {"user:2"}),
    ("user:[0-1]*", {"user:1", "user:10"}),
    ("*1", {"user:1", "admin:1"}),
    ("a\\*b", {"a*b"}),
    ("a\\*", {"a*b"}),
    ("a?b", {"a*b", "a?b", "axb"}),
    ("a\\?b", {"a?b"}),
    ("\\[", {"[x]"}),
    ("\\[x]", {"[x]"}),
    ("[[]x]", {"[x]"}),
    ("h\\\\llo", {"h\\llo"}),
    ("*", set(_PATTERN_KEYS)),
    ("nothing", set()),
]


async def check_patterns(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({key: key for key in _PATTERN_KEYS})
        for pattern, expected in PATTERN_CASES:
            found = [key async for key in store.scan(pattern, batch_size=3)]
            assert len(found) == len(set(found)), f"scan({pattern!r}) repeated a key"
            assert set(found) == expected, f"scan({pattern!r}): {sorted(found)}"
            recorder = _Recorder()
            with store.subscribe(pattern, recorder):
                for key in _PATTERN_KEYS:
                    await store.set(key, key)
            got = {change.key for change in recorder.changes}
            assert got == expected, f"subscribe({pattern!r}): {sorted(got)}"
        try:
            store.scan("user:[12")
        except InvalidPattern:
            pass
        else:
            raise AssertionError("an unclosed '[' must raise InvalidPattern")


async def check_scan_many(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({f"item:{i:04d}": i for i in range(1000)})
        await store.set("other", 0)
        for batch_size in (1, 7, 1000, 5000):
            keys = [key async for key in store.scan("item:", batch_size=batch_size)]
            assert sorted(keys) == [f"item:{i:04d}" for i in range(1000)]


async def check_clear(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({"a:1": 1, "a:2": 2, "b:1": 3})
        recorder = _Recorder()
        store.subscribe(None, recorder)
        assert await store.clear("a:") == 2
        assert sorted(recorder.kinds()) == [("DeleteChange", "a:1"), ("DeleteChange", "a:2")]
        assert await _all_items(store) == {"b:1": 3}
        assert await store.clear("zzz") == 0
        assert await store.clear() == 1
        assert await _all_items(store) == {}


async def check_ttl_active(make_store: MakeStore) -> None:
    """A running store expires keys near their deadline, one expire change each."""
    async with make_store() as store:
        recorder = _Recorder()
        store.subscribe(None, recorder)
        await store.set("short", 1, ttl=0.05)
        await store.set("long", 2, ttl=timedelta(seconds=60))
        await store.set("forever", 3)
        entry = await store.entry("short")
        assert entry is not None and entry.expires_at is not None
        deadline = entry.expires_at
        with anyio.fail_after(5):
            while not any(isinstance(c, ExpireChange) for c in recorder.changes):
                await anyio.sleep(0.01)
        expires = [c for c in recorder.changes if isinstance(c, ExpireChange)]
        assert [(c.key, c.version) for c in expires] == [("short", 1)]
        late = expires[0].committed_at - deadline
        assert -0.005 <= late <= EXPIRY_SLACK, f"expired {late:.3f}s after its deadline"
        assert await store.get("short") is None
        assert await store.get("long") == 2
        assert await store.get("forever") == 3
        await anyio.sleep(0.05)
        assert len([c for c in recorder.changes if isinstance(c, ExpireChange)]) == 1


async def check_ttl_never_returned(make_store: MakeStore) -> None:
    """Expired keys are never returned, whoever commits the expiry first."""
    async with make_store() as store:
        recorder = _Recorder()
        store.subscribe(None, recorder)
        await store.set("a", 1, ttl=0.02)
        await store.set("b", 1, ttl=0.02)
        await store.set("c", 1, ttl=0.02)
        await anyio.sleep(0.03)
        assert await store.get("a") is None
        assert not await store.exists("b")
        assert await store.entry("c") is None
        assert await store.get_many(["a", "b", "c"]) == {}
        await anyio.sleep(0.05)
        expires = sorted(c.key for c in recorder.changes if isinstance(c, ExpireChange))
        assert expires == ["a", "b", "c"], expires


async def check_ttl_replaced(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set("k", 1, ttl=0.03)
        await store.set("k", 2)  # no ttl: keeps the key
        await store.set("j", 1)
        await store.set("j", 2, ttl=0.03)  # ttl added
        await anyio.sleep(0.1)
        assert await store.get("k") == 2
        assert await store.get("j") is None
        await store.set("j", 3, ttl=0.03)
        assert await store.set("j", 4, ttl=60, if_version=1) == 2
        await anyio.sleep(0.1)
        assert await store.get("j") == 4


async def check_expire_exactly_once(make_store: MakeStore) -> None:
    """Readers racing the expiry task still give one expire change per key."""
    async with make_store() as store:
        recorder = _Recorder()
        store.subscribe(None, recorder)
        keys = [f"t:{i}" for i in range(200)]
        await store.set_many(dict.fromkeys(keys, 1), ttl=0.05)

        async def reader(offset: int) -> None:
            with anyio.move_on_after(0.3):
                while True:
                    for key in keys[offset::4]:
                        await store.get(key)
                    await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            for offset in range(4):
                tg.start_soon(reader, offset)
        expired = [c.key for c in recorder.changes if isinstance(c, ExpireChange)]
        assert sorted(expired) == sorted(keys), "one expire change per key, no more"
        assert await _all_items(store) == {}


async def check_subscribers(make_store: MakeStore) -> None:
    async with make_store() as store:
        seen: list[str] = []
        order: list[int] = []

        async def slow(change: Change) -> None:
            await anyio.sleep(0.001)
            seen.append(f"async:{change.key}")
            order.append(change.seq)

        def fast(change: Change) -> None:
            seen.append(f"sync:{change.key}")

        def broken(change: Change) -> None:
            raise RuntimeError("subscriber bug")

        errors_before = store.statistics().callback_errors
        store.subscribe("k", broken)
        store.subscribe("k", slow)
        sub = store.subscribe("k", fast)
        await store.set("k1", 1)
        assert seen == ["async:k1", "sync:k1"], "awaited in registration order before return"
        assert store.statistics().callback_errors == errors_before + 1
        sub.unsubscribe()
        sub.unsubscribe()
        await store.set("k2", 2)
        await store.set("other", 0)
        assert seen == ["async:k1", "sync:k1", "async:k2"]

        # Concurrent writers: every subscriber sees commit order.
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(store.set, f"k:{i}", i)
        assert order == sorted(order), "callbacks ran out of commit order"
        assert len(order) == 22


async def check_subscriber_writes(make_store: MakeStore) -> None:
    """A callback may write to the store; its change is delivered after."""
    async with make_store() as store:
        recorder = _Recorder()

        async def audit(change: Change) -> None:
            if change.key.startswith("data:") and isinstance(change, SetChange):
                await store.set(f"audit:{change.key}", change.version)

        store.subscribe("data:", audit)
        store.subscribe(None, recorder)
        with anyio.fail_after(5):
            await store.set("data:1", "x")
        assert await store.get("audit:data:1") == 1
        seqs = [c.seq for c in recorder.changes]
        assert seqs == sorted(seqs)
        assert [c.key for c in recorder.changes] == ["data:1", "audit:data:1"]


async def check_cancelled_writer(make_store: MakeStore) -> None:
    """A writer cancelled while a callback runs: the change still reaches everyone."""
    async with make_store() as store:
        recorder = _Recorder()
        scope = anyio.CancelScope()

        async def slow(change: Change) -> None:
            scope.cancel()  # the writer is cancelled while this callback awaits
            await anyio.sleep(0.05)

        store.subscribe("slow", slow)
        store.subscribe(None, recorder)
        with scope:
            await store.set("slow", 1)
        assert scope.cancelled_caught
        assert await store.get("slow") == 1, "the committed write stays"
        with anyio.fail_after(2):  # delivered already, or soon by the store's own task
            while not recorder.changes:
                await anyio.sleep(0.005)
        assert [c.key for c in recorder.changes] == ["slow"]
        await store.set("after", 2)
        assert [c.key for c in recorder.changes] == ["slow", "after"]


async def check_feed_live_and_replay(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({"a:1": 1, "a:2": 2, "b:1": 3})
        await store.set("a:1", 10)
        async with store.changes("a:", replay=True) as feed:
            await store.set("a:3", 4)
            await store.delete("a:2")
            await store.set("b:2", 0)
            got = [await feed.__anext__() for _ in range(4)]
        assert [(type(c).__name__, c.key) for c in got] == [
            ("SetChange", "a:2"),
            ("SetChange", "a:1"),
            ("SetChange", "a:3"),
            ("DeleteChange", "a:2"),
        ], "replay in commit order, then live"
        assert [c.seq for c in got] == sorted(c.seq for c in got)
        assert isinstance(got[1], SetChange) and got[1].value == 10
        async with store.changes("b:") as live:
            await store.set("b:3", 1)
            first = await live.__anext__()
        assert first.key == "b:3", "without replay only later changes come"


async def check_feed_replay_under_writes(make_store: MakeStore) -> None:
    """A feed opened while others write ends with the store's state: no gap, no dup."""
    async with make_store() as store:
        seen: list[Change] = []

        async def writer(name: str) -> None:
            for i in range(200):
                await store.set(f"{name}:{i % 20}", i)
                if i % 3 == 0:
                    await store.delete(f"{name}:{(i + 7) % 20}")
                await anyio.lowlevel.checkpoint()

        async def consume(feed: ChangeFeed) -> None:
            async for change in feed:
                seen.append(change)

        feed = store.changes(replay=True, buffer=100_000)
        async with anyio.create_task_group() as consumers:
            async with anyio.create_task_group() as writers:
                writers.start_soon(writer, "x")
                writers.start_soon(writer, "y")
                with anyio.fail_after(10):
                    while store.statistics().seq < 50:
                        await anyio.sleep(0.001)
                await feed.__aenter__()
                assert feed.statistics().replay_pending > 0, "opened mid-way"
                consumers.start_soon(consume, feed)
            await feed.__aexit__(None, None, None)  # the consumer drains, then ends
        seqs = [c.seq for c in seen]
        assert len(seqs) == len(set(seqs)), "a change was delivered twice"
        assert seqs == sorted(seqs), "out of commit order"
        assert _state(seen) == await _all_items(store), "the feed missed a change"


async def check_feed_overflow(make_store: MakeStore) -> None:
    async with make_store() as store:
        async with (
            store.changes(buffer=2, overflow="drop_oldest") as dropping,
            store.changes(buffer=2, overflow="latest_per_key") as latest,
            store.changes(buffer=2, overflow="error") as failing,
        ):
            for i in range(5):
                await store.set("a", i)
            await store.set("b", 0)
            assert [_value(await dropping.__anext__()) for _ in range(2)] == [4, 0]
            assert dropping.statistics().dropped == 4
            got = [await latest.__anext__() for _ in range(2)]
            assert [(c.key, _value(c)) for c in got] == [("a", 4), ("b", 0)]
            assert [_value(await failing.__anext__()) for _ in range(2)] == [0, 1]
            try:
                await failing.__anext__()
            except FeedOverflow as exc:
                assert "overflow" in str(exc)
            else:
                raise AssertionError('overflow="error" must raise FeedOverflow to the consumer')

        async with store.changes("blk", buffer=2, overflow="block") as blocking:
            await store.set("blk", 1)
            await store.set("blk", 2)
            with anyio.move_on_after(0.05) as scope:
                await store.set("blk", 3)
            assert scope.cancelled_caught, "a full blocking feed makes the writer wait"
            got = [await blocking.__anext__() for _ in range(2)]
            assert [_value(c) for c in got] == [1, 2]
            # The cancelled writer's change was committed: the feed gets it, or,
            # where the cancelled writer was the one waiting, fails rather than
            # silently skip it.
            assert await store.get("blk") == 3
            try:
                with anyio.fail_after(2):
                    third = await blocking.__anext__()
            except FeedOverflow:
                pass
            else:
                assert _value(third) == 3

        async with store.changes("w", buffer=1) as waiting:
            values: list[int] = []

            async def consume() -> None:
                async for change in waiting:
                    assert isinstance(change, SetChange)
                    values.append(change.value)
                    if len(values) == 50:
                        return

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                for i in range(50):
                    await store.set("w", i)
            assert values == list(range(50)), "block loses nothing"


async def check_feed_ends_on_close(make_store: MakeStore) -> None:
    store = make_store()
    async with store:
        feed = store.changes()
        await feed.__aenter__()
        await store.set("k", 1)
    got = [change async for change in feed]
    assert [c.key for c in got] == ["k"], "buffered changes, then the end"
    await feed.__aexit__(None, None, None)


async def check_snapshot_restore(make_store: MakeStore) -> None:
    async with make_store() as source, make_store() as target:
        await source.set_many({"a": 1, "b": {"x": [1, 2]}})
        await source.set("c", "t", ttl=60, metadata={"m": 1})
        await source.set("a", 2)
        snap = await source.snapshot()
        assert snap.seq >= 4
        assert {e.key for e in snap.entries} == {"a", "b", "c"}
        wire = msgspec.msgpack.encode(snap)
        snap = msgspec.msgpack.decode(wire, type=Snapshot)
        await target.set("a", "old")
        await target.set("zombie", 1)
        recorder = _Recorder()
        target.subscribe(None, recorder)
        await target.restore(snap)
        assert await _all_items(target) == {"a": 2, "b": {"x": [1, 2]}, "c": "t"}
        c_entry = await target.entry("c")
        assert c_entry is not None and c_entry.metadata == {"m": 1}
        assert c_entry.expires_at is not None
        a_entry = await target.entry("a")
        assert a_entry is not None and a_entry.version == 2, "versions stay monotonic"
        assert ("DeleteChange", "zombie") in recorder.kinds()
        try:
            await target.restore({"a": 1})  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            raise AssertionError("restore() of a non-Snapshot must raise TypeError")


async def check_statistics(make_store: MakeStore) -> None:
    async with make_store() as store:
        before = store.statistics()
        assert before.keys == 0
        await store.set("a", 1, ttl=60)
        await store.set("b", 1)
        with store.subscribe(None, lambda change: None):
            stats = store.statistics()
            assert stats.subscriptions == before.subscriptions + 1
        assert stats.keys == 2
        assert stats.ttl_keys == 1
        assert stats.seq > before.seq
        assert stats.running
        try:
            stats.keys = 5  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError("statistics() must be a frozen record")


async def check_closed_store(make_store: MakeStore) -> None:
    store = make_store()
    async with store:
        await store.set("k", 1)
    assert store.statistics().closed
    for operation in (
        lambda: store.get("k"),
        lambda: store.set("k", 2),
        lambda: store.delete("k"),
        lambda: store.exists("k"),
    ):
        try:
            await operation()
        except anyio.ClosedResourceError:
            pass
        else:
            raise AssertionError("operations on a closed store must raise ClosedResourceError")
    try:
        store.subscribe(None, lambda change: None)
    except anyio.ClosedResourceError:
        pass
    else:
        raise AssertionError("subscribe() on a closed store must raise")
    await store.aclose()  # idempotent


async def check_fold_property(make_store: MakeStore) -> None:
    """Property: state == fold(changes), and a mid-way replaying feed converges."""
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st
    except ModuleNotFoundError as exc:  # pragma: no cover - a dependency of the suite
        raise RuntimeError("check_store's property test needs: pip install hypothesis") from exc

    keys = st.sampled_from(["a", "b", "c", "d:1", "d:2"])
    values = st.one_of(
        st.integers(-5, 5),
        st.text(max_size=3),
        st.lists(st.integers(-(2**63), 2**64 - 1), max_size=2),
    )
    operation = st.one_of(
        st.tuples(st.just("set"), keys, values, st.sampled_from([None, 0.001, 60.0])),
        st.tuples(st.just("cas"), keys, values, st.integers(0, 3)),
        st.tuples(st.just("delete"), keys),
        st.tuples(st.just("clear"), st.sampled_from(["d:", "*", "[ab]"])),
        st.tuples(st.just("set_many"), st.dictionaries(keys, values, max_size=3)),
        st.tuples(st.just("get"), keys),
        st.tuples(
            st.just("sleep"),
        ),
    )

    async def run(ops: list[tuple[Any, ...]], join_at: int) -> None:
        async with make_store() as store:
            everything = _Recorder()
            store.subscribe(None, everything)
            joined: list[Change] = []
            feed = None
            for index, op in enumerate(ops):
                if index == join_at:
                    feed = store.changes(replay=True, buffer=10_000)
                    await feed.__aenter__()
                match op:
                    case ("set", key, value, ttl):
                        await store.set(key, value, ttl=ttl)
                    case ("cas", key, value, version):
                        with contextlib.suppress(VersionConflict):
                            await store.set(key, value, if_version=version)
                    case ("delete", key):
                        await store.delete(key)
                    case ("clear", pattern):
                        await store.clear(pattern)
                    case ("set_many", items):
                        await store.set_many(items)
                    case ("get", key):
                        await store.get(key)
                    case ("sleep",):
                        await anyio.sleep(0.002)
            await anyio.sleep(0.01)
            for key in ["a", "b", "c", "d:1", "d:2"]:
                await store.exists(key)  # commit any expiry still pending
            state = await _all_items(store)
            assert _state(everything.changes) == state, "state != fold(changelog)"
            seqs = [c.seq for c in everything.changes]
            assert seqs == sorted(set(seqs)), "seq must strictly increase"
            if feed is not None:
                while feed.statistics().buffered or feed.statistics().replay_pending:
                    joined.append(await feed.__anext__())
                await feed.__aexit__(None, None, None)
                assert _state(joined) == state, "a replaying feed did not converge"
            snap = await store.snapshot()
            assert {e.key: e.value for e in snap.entries} == state

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.lists(operation, max_size=25), st.integers(0, 25))
    def property_test(ops: list[tuple[Any, ...]], join_at: int) -> None:
        anyio.from_thread.run(run, ops, join_at)

    await anyio.to_thread.run_sync(property_test)


#: Every check of the store contract, by name.
STORE_CHECKS: dict[str, StoreCheck] = {
    name.removeprefix("check_"): check
    for name, check in sorted(globals().items())
    if name.startswith("check_")
    and name != "check_store"
    and getattr(check, "__module__", None) == __name__  # not check_stream & co.
}


async def check_store(make_store: MakeStore) -> None:
    """Run every check of the store contract against stores from ``make_store``.

    Raises AssertionError (with the check's name in its notes) on the first
    failure.
    """
    for name, check in STORE_CHECKS.items():
        try:
            await check(make_store)
        except AssertionError as exc:
            exc.add_note(f"pepperflow.testing.check_store: check {name!r} failed")
            raise
