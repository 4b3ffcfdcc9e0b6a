"""Mirror: a live one-way copy of a pattern from a real store into another,
resuming from the target's mark with no gap and no duplicate, resyncing
(and writing only what differs) when the source cannot give its history."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pepperflow.sinks import Mirror
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore
from pepperflow.streams import Change, SetChange
from tests.sinks.helpers import entries_of, target_store
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


def kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(type(change).__name__.removesuffix("Change"), change.key) for change in changes]


async def test_a_mirror_copies_a_redis_namespace_into_a_local_sqlite_file(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        target_store("redis", tmp_path, redis_server, "shared", sweep_interval=0.05) as shared,
        SqliteStore(tmp_path / "offline.db") as local,
    ):
        await shared.set("user:1", {"name": "Ada"}, metadata={"by": "test"})
        await shared.set("user:2", "Grace", ttl=600)
        await shared.set("order:1", 12)  # another pattern: not copied
        await local.set("other:1", "mine")  # the target's other keys are left alone
        await local.set("user:stale", 0)  # the source lacks it: removed
        async with shared.changes("user:brief") as brief, Mirror(shared, local, "user:") as sink:
            await sink.flush()
            assert await entries_of(local, "user:") == await entries_of(shared, "user:")
            await shared.set("user:1", {"name": "Ada L."})
            await shared.delete("user:2")
            await shared.set("user:brief", 1, ttl=0.05)
            with anyio.fail_after(10):  # its expiry in the source
                async for change in brief:
                    if not isinstance(change, SetChange):
                        break
            await sink.flush()
            assert await entries_of(local, "user:") == await entries_of(shared, "user:")
        assert await local.get("other:1") == "mine"
        assert not await local.exists("order:1")
        assert not await local.exists("user:stale")
        assert await local.get("user:1") == {"name": "Ada L."}


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_mirror_resumes_from_its_mark_with_no_gap_and_no_duplicate(
    kind: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        target_store(kind, tmp_path, redis_server, "source") as source,
        SqliteStore(tmp_path / "target.db") as target,
    ):
        async with Mirror(source, target, "user:", max_batch=7):
            for i in range(40):
                await source.set(f"user:{i % 12}", i)
        seq = target.statistics().seq
        # While no mirror runs: changes to copy, and others to leave.
        await source.set("user:20", "new", ttl=600, metadata={"m": 1})
        await source.delete("user:3")
        await source.set("order:1", "not copied")
        await source.set("user:4", "changed")
        async with Mirror(source, target, "user:", max_batch=7) as sink:
            await sink.flush()
            assert sink.statistics().resyncs == 0, "resumed from the mark, not resynced"
            assert kinds(await target.changes_since(seq)) == [
                ("Set", "user:20"),
                ("Delete", "user:3"),
                ("Set", "user:4"),
            ], "each change after the mark applied once, in order"
            await source.set("user:5", "live")
        assert await entries_of(target) == await entries_of(source, "user:")
        mark = await target.mark(sink.name)
        assert mark is not None and mark.seq == source.statistics().seq


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_mirror_resyncs_when_the_history_after_its_mark_is_gone(
    kind: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    # A changelog that keeps little: SQLite compacts beyond `retain`, Redis trims.
    options = {"retain": 5} if kind == "sqlite" else {"changelog_length": 10}
    async with (
        target_store(kind, tmp_path, redis_server, "source", **options) as source,
        SqliteStore(tmp_path / "target.db") as target,
    ):
        async with Mirror(source, target):
            await source.set_many({f"k{i}": i for i in range(20)})
        seq = target.statistics().seq
        for i in range(1000):
            await source.set(f"k{i % 10}", i)  # k0..k9 change, k10..k19 stay
        await source.delete("k10")
        if isinstance(source, SqliteStore):
            await source.compact()
        async with Mirror(source, target) as sink:
            await sink.flush()
            assert sink.statistics().resyncs == 1
        assert await entries_of(target) == await entries_of(source)
        assert sorted(kinds(await target.changes_since(seq))) == sorted(
            [("Set", f"k{i}") for i in range(10)] + [("Delete", "k10")]
        ), "the resync wrote only the keys that differ"


async def test_a_mirror_of_a_memory_store_resyncs_writing_only_what_differs(
    tmp_path: Path,
) -> None:
    async with MemoryStore("m") as source, SqliteStore(tmp_path / "t.db") as target:
        await source.set_many({"a": 1, "b": 2, "c": 3})
        await target.set_many({"a": 1, "b": "old", "z": 0})
        seq = target.statistics().seq
        async with Mirror(source, target) as sink:
            await sink.flush()
            assert sorted(kinds(await target.changes_since(seq))) == [
                ("Delete", "z"),
                ("Set", "b"),
                ("Set", "c"),
            ]
        assert await entries_of(target) == await entries_of(source)


async def test_two_mirrors_into_one_target_keep_marks_of_their_own(tmp_path: Path) -> None:
    async with (
        SqliteStore(tmp_path / "s.db", namespace="a") as one,
        SqliteStore(tmp_path / "s.db", namespace="b") as two,
        SqliteStore(tmp_path / "t.db") as target,
    ):
        await one.set("a:1", 1)
        await two.set("b:1", 2)
        async with Mirror(one, target, "a:") as first, Mirror(two, target, "b:") as second:
            await first.flush()
            await second.flush()
        assert first.name != second.name
        marks = [await target.mark(sink.name) for sink in (first, second)]
        assert [(m.seq, m.source.rsplit("#", 1)[1]) for m in marks if m] == [(1, "a"), (1, "b")]
        assert await entries_of(target) == {"a:1": (1, None, None), "b:1": (2, None, None)}


async def test_a_mirror_from_another_redis_process_store_sees_every_process_writes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with target_store("redis", tmp_path, redis_server, "shared") as shared:
        other = RedisStore(redis_server.url, namespace=shared.name)  # another client
        async with other, SqliteStore(tmp_path / "t.db") as local:
            async with (
                local.changes("from-other") as arrived,
                Mirror(shared, local, max_delay=0.01),
            ):
                await other.set("from-other", 1)
                with anyio.fail_after(10):
                    await anext(arrived)
            assert await entries_of(local) == await entries_of(shared)
