"""WriteBehind: a MemoryStore in front of a real SqliteStore file or a real
private Redis, and its guarantee: everything in the target after aclose(),
a crash loses at most the batch window, a restart resumes from the target,
an outage is retried, a full buffer applies the feed's overflow policy."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from pepperflow import FeedOverflow, InvalidValue
from pepperflow.sinks import SinkStatistics, WriteBehind
from pepperflow.stores import MemoryStore, Overflow, SqliteStore, Store
from pepperflow.streams import Change, ExpireChange
from tests.sinks.helpers import LogWaiter, entries_of, locked, target_store
from tests.support.child_process import run_child
from tests.support.redis_server import RedisServer
from tests.support.sink_child import key_of

pytestmark = pytest.mark.anyio

KINDS = ["sqlite", "redis"]
CHILD = Path(__file__).parent.parent / "support" / "sink_child.py"


async def expire_now(store: Store[Any], key: str) -> None:
    """Set ``key`` with a short ttl and wait for its expire change."""
    async with store.changes(key) as feed:
        await store.set(key, "brief", ttl=0.02)
        with anyio.fail_after(10):
            async for change in feed:
                if isinstance(change, ExpireChange):
                    return


async def take(feed: Any, count: int) -> list[Change]:
    """The next ``count`` changes of ``feed`` (10 s at most)."""
    got: list[Change] = []
    with anyio.fail_after(10):
        async for change in feed:
            got.append(change)
            if len(got) == count:
                return got
    raise AssertionError(f"the feed ended after {len(got)} of {count} changes")


@pytest.mark.parametrize("kind", KINDS)
async def test_after_aclose_every_change_is_in_the_target(
    kind: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    async with target_store(kind, tmp_path, redis_server) as target, MemoryStore("c") as cache:
        # Batches by count only (an hour of max_delay): what is left goes at aclose().
        async with WriteBehind(cache, target, max_batch=64, max_delay=3600) as sink:
            await sink.flush()  # caught up: every change below goes through the feed
            for i in range(1, 1001):
                await cache.set(f"k:{i % 150}", i, metadata={"i": i})
            await cache.set("with-ttl", {"x": [1, 2]}, ttl=600, metadata={"m": "ttl"})
            await cache.set("deleted", 1)
            await cache.delete("deleted")
            await expire_now(cache, "expired")
            expected = await entries_of(cache)
        got = await entries_of(target)
        mark = await target.mark(sink.name)
    assert got == expected, "values, metadata and deadlines (the same instants) as in the cache"
    assert "deleted" not in got and "expired" not in got
    assert got["with-ttl"][2] is not None
    assert mark is not None and mark.seq == cache.statistics().seq
    stats = sink.statistics()
    assert stats.received == 1005 and stats.applied <= stats.received, stats


async def test_a_batch_goes_when_max_batch_keys_are_pending_or_after_max_delay(
    tmp_path: Path,
) -> None:
    async with MemoryStore() as cache, SqliteStore(tmp_path / "t.db") as target:
        async with (
            target.changes() as applied,
            WriteBehind(cache, target, max_batch=10, max_delay=3600) as sink,
        ):
            await sink.flush()  # caught up: the changes below go through the feed
            for i in range(25):
                await cache.set(f"k{i}", i)
            await take(applied, 20)
            assert target.statistics().keys == 20, "two batches of 10; 5 keys wait"
            stats = sink.statistics()
            assert stats.pending + stats.buffered == 5, stats
            await sink.flush()
            assert target.statistics().keys == 25
        async with (
            target.changes("timed") as applied,
            WriteBehind(cache, target, max_delay=0.01) as sink,
        ):
            await cache.set("timed", 1)
            await take(applied, 1)  # no flush, no count: its batch went after max_delay
            assert sink.statistics().pending == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_a_restart_loads_the_target_and_resumes_from_its_seq(
    kind: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    async with target_store(kind, tmp_path, redis_server) as target:
        async with MemoryStore("c") as cache, WriteBehind(cache, target):
            for i in range(300):
                await cache.set(f"k:{i % 50}", i, ttl=600 if i % 2 else None)
            await cache.delete("k:0")
            before = await entries_of(cache)
        history_at = (await target.changes_since(0))[-1].seq
        async with MemoryStore("c") as cache, WriteBehind(cache, target) as sink:
            assert await entries_of(cache) == before, "the restart starts from the target's state"
            await sink.flush()
            assert await target.changes_since(history_at) == [], (
                "the restart wrote nothing into the target: no duplicate"
            )
            await cache.set("k:1", "new")
            await cache.delete("k:2")
            after = await entries_of(cache)
        new = await target.changes_since(history_at)
        assert [(type(c).__name__, c.key) for c in new] == [
            ("SetChange", "k:1"),
            ("DeleteChange", "k:2"),
        ], "only the new changes, once"
        assert await entries_of(target) == after


async def test_a_crash_loses_at_most_the_batch_window(tmp_path: Path, anyio_backend: str) -> None:
    count, keys, max_batch, buffer = 1050, 500, 100, 200
    path = tmp_path / "crash.db"
    argv = [anyio_backend, str(path), *map(str, (count, keys, max_batch, buffer))]
    async with run_child(CHILD, tmp_path, argv) as child:
        done = msgspec.json.decode(await child.line())
        child.process.kill()
        await child.wait()
    assert done["seq"] == count
    async with SqliteStore(path, namespace="cache") as target:
        mark = await target.mark("write-behind:cache:")
        assert mark is not None
        lost = count - mark.seq
        assert count % max_batch <= lost <= max_batch + buffer, (
            f"lost {lost} changes; the window is max_batch + buffer = {max_batch + buffer}"
            f" (and the last {count % max_batch} never filled a batch)"
        )
        # The target holds the source's state at the mark exactly: a consistent prefix.
        expected = {key_of(i, keys): i for i in range(1, mark.seq + 1)}
        assert {key: value for key, (value, _, _) in (await entries_of(target)).items()} == (
            expected
        )
        async with MemoryStore("cache") as cache, WriteBehind(cache, target) as sink:
            assert await cache.get_many(list(expected)) == expected, "the restart resumes there"
            await cache.set("after", 1)
        assert await target.get("after") == 1
        assert sink.statistics().resyncs == 1


async def test_a_locked_sqlite_target_is_retried_with_backoff_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    async with MemoryStore("c") as cache, SqliteStore(path, busy_timeout=0.01) as target:
        with LogWaiter("pepperflow.sinks") as log:
            async with WriteBehind(
                cache, target, max_delay=0.01, retry_min=0.01, retry_max=0.05
            ) as sink:
                await sink.flush()  # caught up: the batches below are the ones retried
                with locked(path):
                    for i in range(100):
                        await cache.set(f"k{i}", i)
                    record = await log.wait(attempt=3)
                    assert sink.statistics().retrying
                await cache.set("k100", 100)
        assert await entries_of(target) == await entries_of(cache)
    assert record.levelno == logging.WARNING
    fields = {name: getattr(record, name) for name in ("sink", "source", "target", "error")}
    assert fields == {
        "sink": sink.name,
        "source": "c",
        "target": "default",
        "error": "OperationalError",
    }
    assert record.changes == 100 and record.first_seq == 1 and record.last_seq == 100  # type: ignore[attr-defined]
    assert 0 < record.retry_in <= 0.05  # type: ignore[attr-defined]
    assert sink.statistics().retries >= 3


async def test_a_redis_target_stopped_then_restarted_is_retried_and_nothing_is_lost(
    tmp_path: Path, durable_server: RedisServer
) -> None:
    durable_server.ensure_running()
    async with target_store("redis", tmp_path, durable_server) as target, MemoryStore() as cache:
        with LogWaiter("pepperflow.sinks") as log:
            sink = WriteBehind(cache, target, max_delay=0.01, retry_min=0.01, retry_max=0.1)
            async with sink:
                await cache.set("before", 0)
                await sink.flush()
                durable_server.stop()
                try:
                    for i in range(200):
                        await cache.set(f"k{i % 20}", i)
                    record = await log.wait(attempt=2)
                finally:
                    durable_server.restart()
                await cache.set("after", 1)
        assert await entries_of(target) == await entries_of(cache)
    assert record.error == "StoreUnavailable"  # type: ignore[attr-defined]
    assert sink.statistics().resyncs == 1, "the durable target kept its mark: no resync"


async def test_a_target_that_lost_its_data_is_resynced(tmp_path: Path) -> None:
    with RedisServer() as server:  # not durable: a restart empties it
        server.start()
        async with target_store("redis", tmp_path, server) as target, MemoryStore() as cache:
            with LogWaiter("pepperflow.sinks") as log:
                sink = WriteBehind(cache, target, max_delay=0.01, retry_min=0.01, retry_max=0.1)
                async with sink:
                    for i in range(50):
                        await cache.set(f"early{i}", i)
                    await sink.flush()
                    server.stop()
                    await cache.set("during", 1)
                    await log.wait(attempt=2)
                    server.restart()
                    await sink.flush()
                    await cache.set("after", 2)
            assert await entries_of(target) == await entries_of(cache)
            assert len(await entries_of(target)) == 52
            assert sink.statistics().resyncs == 2, "the first start, and after the loss"
            assert any("lost data" in r.getMessage() for r in log.records)


async def test_overflow_block_makes_the_writer_wait_while_the_target_is_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    written = 0
    async with MemoryStore() as cache, SqliteStore(path, busy_timeout=0.01) as target:
        sink = WriteBehind(cache, target, buffer=5, max_batch=5, retry_min=0.01)
        with LogWaiter("pepperflow.sinks") as log:
            async with sink, anyio.create_task_group() as tg:
                await sink.flush()

                async def write() -> None:
                    nonlocal written
                    for i in range(40):
                        await cache.set(f"k{i}", i)
                        written += 1

                with locked(path):
                    tg.start_soon(write)
                    await log.wait(attempt=3)
                    assert written == 10, (
                        "5 in the batch held back, 5 in the buffer: the writer waits"
                    )
                    assert sink.statistics().buffered == 5
        assert written == 40
        assert await entries_of(target) == await entries_of(cache)
        assert sink.statistics().dropped == 0


def small_buffer(cache: MemoryStore[Any], target: Store[Any], overflow: Overflow) -> WriteBehind:
    """A write-behind whose feed holds 5 changes, retrying fast."""
    return WriteBehind(cache, target, buffer=5, max_delay=0.01, retry_min=0.01, overflow=overflow)


@asynccontextmanager
async def held_back(cache: MemoryStore[Any], path: Path, log: LogWaiter) -> AsyncIterator[None]:
    """Within the block the target's file is locked and a first batch ("first")
    is held back in retries: what the block writes waits in the feed."""
    with locked(path):
        await cache.set("first", 0)
        await log.wait(attempt=1)
        yield


async def held_back_run(
    tmp_path: Path, overflow: Overflow, keys: list[str]
) -> tuple[SinkStatistics, dict[str, Any], dict[str, Any]]:
    """Set ``keys`` (the i-th to i) while the target holds a first batch back,
    through a write-behind whose feed holds 5 changes; then unlock and close.
    The sink's statistics, the cache's entries and the target's."""
    path = tmp_path / "t.db"
    async with MemoryStore() as cache, SqliteStore(path, busy_timeout=0.01) as target:
        sink = small_buffer(cache, target, overflow)
        with LogWaiter("pepperflow.sinks") as log:
            async with sink:
                await sink.flush()
                async with held_back(cache, path, log):
                    for i, key in enumerate(keys):
                        await cache.set(key, i)  # never waits
        return sink.statistics(), await entries_of(cache), await entries_of(target)


async def test_overflow_drop_oldest_never_waits_and_counts_what_it_dropped(
    tmp_path: Path,
) -> None:
    stats, cache, target = await held_back_run(
        tmp_path, "drop_oldest", [f"k{i}" for i in range(39)]
    )
    assert stats.dropped == 34, "39 changes, 5 kept in the buffer"
    assert cache.keys() - target.keys() == {f"k{i}" for i in range(34)}, "the oldest dropped"


async def test_overflow_latest_per_key_keeps_the_final_state(tmp_path: Path) -> None:
    stats, cache, target = await held_back_run(
        tmp_path, "latest_per_key", [f"k{i % 3}" for i in range(300)]
    )
    assert target == cache
    assert stats.conflated >= 290, "3 keys: the buffer kept the newest of each"


async def test_overflow_error_fails_the_sink_without_stopping_the_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    async with MemoryStore() as cache, SqliteStore(path, busy_timeout=0.01) as target:
        sink = small_buffer(cache, target, "error")
        with LogWaiter("pepperflow.sinks") as log:
            await sink.__aenter__()
            try:
                await sink.flush()
                async with held_back(cache, path, log):
                    for i in range(20):
                        await cache.set(f"k{i}", i)  # never waits
            finally:
                with pytest.raises(FeedOverflow):
                    await sink.aclose()
            assert log.records[-1].levelno == logging.ERROR
        assert sink.statistics().error is not None and not sink.statistics().running


async def test_a_value_the_target_refuses_fails_the_sink_loudly(tmp_path: Path) -> None:
    async with MemoryStore() as cache, SqliteStore(tmp_path / "t.db", type=int) as target:
        sink = WriteBehind(cache, target, buffer=2, max_delay=0.01)
        with LogWaiter("pepperflow.sinks") as log:
            await sink.__aenter__()
            try:
                await cache.set("bad", "not an int")
                with pytest.raises(InvalidValue):
                    await sink.flush()
                for i in range(10):
                    await cache.set(f"k{i}", i)  # the stopped sink holds no writer back
            finally:
                with pytest.raises(InvalidValue, match="'bad'"):
                    await sink.aclose()
        failure = log.records[-1]
        assert failure.levelno == logging.ERROR
        assert failure.error == "InvalidValue" and failure.sink == sink.name  # type: ignore[attr-defined]


async def test_options_are_checked_when_the_sink_is_made(tmp_path: Path) -> None:
    cache = MemoryStore()
    with pytest.raises(ValueError, match="max_batch"):
        WriteBehind(cache, MemoryStore(), max_batch=0)
    with pytest.raises(ValueError, match="max_delay"):
        WriteBehind(cache, MemoryStore(), max_delay=-1)
    with pytest.raises(ValueError, match="overflow"):
        WriteBehind(cache, MemoryStore(), overflow="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="its own source"):
        WriteBehind(cache, cache)
    with pytest.raises(TypeError, match="must be stores"):
        WriteBehind(cache, {})  # type: ignore[arg-type]
