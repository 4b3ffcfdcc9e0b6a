"""RedisStore across real processes: subscribers, replay, compare-and-set, expiry.

Each test runs child processes (tests/support/redis_child.py, on the test's own
anyio backend, warnings as errors) against the private redis-server, in a
namespace of its own; and again on the private Redis Cluster.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest

from pepperflow.stores.redis import RedisStore
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange, fold
from tests.support.child_process import TIMEOUT, Child, run_child
from tests.support.redis_child import Meta, Msg
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).parent.parent / "support" / "redis_child.py"
_runs = itertools.count()


class Changes(msgspec.Struct):
    changes: list[Change]


@asynccontextmanager
async def spawn(
    tmp_path: Path, backend: str, role: str, url: str, namespace: str, n: int
) -> AsyncIterator[Child]:
    """Run ``redis_child.py role backend url namespace n``; kill it on the way out."""
    async with run_child(CHILD, tmp_path, [role, backend, url, namespace, str(n)]) as child:
        yield child


@pytest.fixture(params=["server", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """The private server's URL, then the private cluster's (its seeds)."""
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.seeds_url
    server: RedisServer = request.getfixturevalue("redis_server")
    server.ensure_running()
    return server.url


def namespace(name: str) -> str:
    return f"{name}-{next(_runs)}"


async def test_a_subscriber_in_another_process_gets_every_change_in_order(
    anyio_backend: str, tmp_path: Path, redis_url: str
) -> None:
    ns = namespace("follow")
    mine: list[Change] = []
    async with RedisStore(redis_url, namespace=ns) as store:
        store.subscribe(None, mine.append)
        async with spawn(tmp_path, anyio_backend, "follow", redis_url, ns, 8) as child:
            assert msgspec.json.decode(await child.line()) == "ready"
            await store.set("a", {"n": 1}, metadata={"by": "parent"})
            await store.set("a", {"n": 2})
            await store.set_many({"b:1": 1, "b:2": 2})
            await store.delete("b:1")
            await store.set("short", "x", ttl=0.05)
            with anyio.fail_after(5):
                while not any(isinstance(c, ExpireChange) for c in mine):
                    await anyio.sleep(0.01)
            await store.set("last", True)
            report = msgspec.json.decode(await child.line(), type=Changes)
            await child.finish()
    assert [type(c) for c in report.changes] == [
        SetChange, SetChange, SetChange, SetChange, DeleteChange, SetChange, ExpireChange, SetChange
    ]  # fmt: skip
    assert report.changes == mine, "the other process saw other changes than the writer"
    assert [c.seq for c in report.changes] == list(range(1, 9))


async def test_replay_in_one_process_while_another_writes_has_no_gap_or_duplicate(
    anyio_backend: str, tmp_path: Path, redis_url: str
) -> None:
    ns = namespace("replay")
    async with (
        RedisStore(redis_url, namespace=ns) as store,
        spawn(tmp_path, anyio_backend, "write", redis_url, ns, 400) as child,
    ):
        assert msgspec.json.decode(await child.line()) == "ready"
        await child.send("go")
        with anyio.fail_after(TIMEOUT):
            while await store.get("w:50") is None:
                await anyio.sleep(0.001)
        seen: list[Change] = []
        async with store.changes(replay=True, buffer=10_000) as feed:
            assert feed.statistics().replay_pending > 0, "joined mid-way"
            with anyio.fail_after(TIMEOUT):
                async for change in feed:
                    seen.append(change)
                    if change.key == "w:399":
                        break
        done = msgspec.json.decode(await child.line())
        await child.finish()
    seqs = [c.seq for c in seen]
    assert len(seqs) == len(set(seqs)), "a change came twice"
    assert seqs == sorted(seqs), "out of commit order"
    assert seqs[-1] == done["seq"] == 400
    assert {k: c.value for k, c in fold(seen).items()} == {f"w:{i}": i for i in range(400)}


async def test_two_processes_incrementing_with_compare_and_set_lose_no_update(
    anyio_backend: str, tmp_path: Path, redis_url: str
) -> None:
    ns = namespace("cas")
    url = redis_url
    async with (
        spawn(tmp_path, anyio_backend, "increment", url, ns, 150) as first,
        spawn(tmp_path, anyio_backend, "increment", url, ns, 150) as second,
    ):
        assert msgspec.json.decode(await first.line()) == "ready"
        assert msgspec.json.decode(await second.line()) == "ready"
        await first.send("go")
        await second.send("go")
        reports = [
            msgspec.json.decode(await first.line()),
            msgspec.json.decode(await second.line()),
        ]
        await first.finish()
        await second.finish()
    async with RedisStore(url, namespace=ns) as store:
        entry = await store.entry("counter")
    assert entry is not None
    assert entry.value == 300, f"lost updates ({[r['conflicts'] for r in reports]} conflicts)"
    assert entry.version == 300


async def test_a_key_two_processes_hold_expires_exactly_once(
    anyio_backend: str, tmp_path: Path, redis_url: str
) -> None:
    ns = namespace("expire")
    keys = sorted(f"t:{i}" for i in range(50))
    async with RedisStore(redis_url, namespace=ns) as store:
        mine: list[Change] = []
        store.subscribe(None, mine.append)
        async with spawn(tmp_path, anyio_backend, "expire", redis_url, ns, 50) as child:
            assert msgspec.json.decode(await child.line()) == "ready"
            # Both processes sweep; whichever comes first expires each key.
            await store.set_many(dict.fromkeys(keys, 1), ttl=0.2)
            report = msgspec.json.decode(await child.line(), type=Changes)
            await child.finish()
    expires = [c for c in mine if isinstance(c, ExpireChange)]
    assert sorted(c.key for c in expires) == keys, "one expire change per key"
    assert report.changes == expires, "both processes saw the same expire changes"


class TypedChanges(msgspec.Struct):
    changes: list[SetChange[Msg, Meta] | DeleteChange | ExpireChange]
    types: list[str]


async def test_a_typed_follower_in_another_process_gets_instances_of_the_type(
    anyio_backend: str, tmp_path: Path, redis_url: str
) -> None:
    ns = namespace("typed")
    at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    mine: list[Change] = []
    async with RedisStore(redis_url, namespace=ns, type=Msg, metadata_type=Meta) as store:
        store.subscribe(None, mine.append)
        async with spawn(tmp_path, anyio_backend, "follow-typed", redis_url, ns, 4) as child:
            assert msgspec.json.decode(await child.line()) == "ready"
            msg, meta = Msg("user", "hi", at, ("a", "b")), Meta("ada")
            await store.set("m:1", msg, metadata=meta)
            await store.set_many({"m:2": Msg("bot", "yo", at), "m:3": Msg("user", "?", at)})
            await store.delete("m:3")
            report = msgspec.json.decode(await child.line(), type=TypedChanges)
            await child.finish()
    assert report.types == ["Msg/Meta", "Msg/NoneType", "Msg/NoneType", "Msg", "Msg", "NoneType"]
    assert report.changes == mine, "the other process decoded other changes than the writer's"
    first = mine[0]
    assert isinstance(first, SetChange)
    assert first.value == Msg("user", "hi", at, ("a", "b")) and first.metadata == Meta("ada")
