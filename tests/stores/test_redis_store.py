"""RedisStore beyond the conformance suite: URLs, clients, key layout, changelog."""

from __future__ import annotations

import itertools
import time

import anyio
import msgspec
import pytest
import redis
import redis.asyncio

from pepperflow import StoreUnavailable, UnsupportedDriver, VersionConflict, open_store
from pepperflow.stores import RedisStore
from pepperflow.streams import Change, SetChange
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


def _ns(name: str) -> str:
    return f"{name}-{next(_namespaces)}"


def _raw(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


async def test_redis_urls_open_with_their_options(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    ns = _ns("url")
    url = f"{redis_server.url}?namespace={ns}&changelog_length=50&sweep_interval=0.5"
    async with open_store(url) as store:
        assert isinstance(store, RedisStore)
        assert store.name == ns
        await store.set("k", 1)
    async with open_store(f"redis://127.0.0.1:{redis_server.port}/0?namespace={ns}") as again:
        assert await again.get("k") == 1, "another store of the namespace sees the key"


async def test_an_unreachable_server_is_a_clear_error() -> None:
    from tests.support.redis_server import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", namespace=_ns("nowhere"))
    with pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        async with store:
            pass


async def test_operations_need_an_open_store(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace=_ns("unopened"))
    with pytest.raises(RuntimeError, match="is not open; use `async with"):
        await store.get("k")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_redis_py_client_of_the_user_is_used_and_left_open(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    try:
        async with RedisStore(client, namespace=_ns("client")) as store:
            await store.set("k", {"a": 1})
            assert await store.get("k") == {"a": 1}
        assert await client.ping(), "the store must not close a client it was given"
    finally:
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_client_that_decodes_responses_is_refused(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    client = redis.asyncio.Redis(
        host=redis_server.host, port=redis_server.port, decode_responses=True
    )
    try:
        with pytest.raises(ValueError, match="decode_responses=False"):
            async with RedisStore(client, namespace=_ns("decoding")):
                pass
    finally:
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_py_on_trio_says_to_use_coredis(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    store = RedisStore(redis_server.url, namespace=_ns("trio"), driver="redis-py")
    with pytest.raises(UnsupportedDriver, match="use driver='coredis' or 'auto'") as refused:
        async with store:
            pass
    # A ValueError as the store's other bad options are; a RuntimeError as it always was.
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, RuntimeError)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    with pytest.raises(UnsupportedDriver, match="pass a coredis client, or a URL, on trio"):
        async with RedisStore(client, namespace=_ns("trio")):
            pass


async def test_keys_follow_the_documented_layout(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    ns = _ns("layout")
    async with RedisStore(redis_server.url, namespace=ns) as store:
        await store.set("user:1", "ada", ttl=60)
        await store.set("user:2", "bob")
    tag = f"pf:{{{ns}}}:"
    with _raw(redis_server) as raw:
        keys = {key.decode() for key in raw.scan_iter(match=f"pf:{{{ns}}}:*")}
        assert keys == {
            tag + "log",
            tag + "meta",
            tag + "exp",
            tag + "k:user:1",
            tag + "k:user:2",
        }
        assert raw.xlen(tag + "log") == 2
        assert 0 < raw.pttl(tag + "k:user:1") <= 60_000, "the entry carries Redis's own ttl"
        assert raw.pttl(tag + "k:user:2") == -1
        assert raw.zrange(tag + "exp", 0, -1) == [b"user:1"]
        meta = raw.hgetall(tag + "meta")
        assert sorted(meta) == [b"", b"user:1", b"user:2"]
        assert meta[b""] == b"2", "the last seq"
        assert meta[b"user:1"][9:] == b"t\x01", "a ttl, version 1 (msgpack)"
        assert meta[b"user:2"][9:] == b"-\x01", "no ttl, version 1 (msgpack)"
        created = msgspec.msgpack.decode(meta[b"user:2"][:9])
        assert isinstance(created, float) and abs(created - time.time()) < 60
        entry = msgspec.msgpack.decode(raw.get(tag + "k:user:2"))
        assert (entry["key"], entry["value"], entry["version"], entry["seq"]) == (
            "user:2",
            "bob",
            1,
            2,
        )


async def test_the_changelog_is_trimmed_to_about_its_length(redis_server: RedisServer) -> None:
    """The changelog holds one entry per write (a set_many is one), trimmed near the bound."""
    redis_server.ensure_running()
    ns = _ns("trim")
    async with RedisStore(redis_server.url, namespace=ns, changelog_length=100) as store:
        for i in range(1000):
            await store.set(f"k{i % 10}", i)
        await store.set_many({f"many:{i}": i for i in range(500)})
        assert store.statistics().seq == 1500
    with _raw(redis_server) as raw:
        length = raw.xlen(f"pf:{{{ns}}}:log")
        newest = raw.xrevrange(f"pf:{{{ns}}}:log", count=1)
    assert 100 <= length < 400, f"changelog holds {length} entries"
    assert newest[0][0] == b"0-1500", "an entry's id is the seq of its last change"


async def test_a_subscriber_that_writes_gets_its_own_change_after(
    redis_server: RedisServer,
) -> None:
    """A callback's own write is delivered after the change that triggered it."""
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("reentrant")) as store:
        got: list[Change] = []

        async def echo(change: Change) -> None:
            got.append(change)
            if isinstance(change, SetChange) and change.key == "ping":
                await store.set("pong", change.value)

        store.subscribe(None, echo)
        await store.set("ping", 1)
        with anyio.fail_after(5):
            while len(got) < 2:
                await anyio.sleep(0.01)
        assert [(c.key, c.seq) for c in got] == [("ping", 1), ("pong", 2)]


async def test_a_late_subscriber_gets_only_what_comes_after_it(redis_server: RedisServer) -> None:
    """A store with no subscriber does not read the changelog, yet keeps up with it."""
    redis_server.ensure_running()
    ns = _ns("late")
    async with (
        RedisStore(redis_server.url, namespace=ns, sweep_interval=0.05) as quiet,
        RedisStore(redis_server.url, namespace=ns) as writer,
    ):
        for i in range(20):
            await writer.set(f"old:{i}", i)
        with anyio.fail_after(5):
            while quiet.statistics().seq < 20:
                await anyio.sleep(0.01)
        got: list[Change] = []
        quiet.subscribe(None, got.append)
        await writer.set("new", 1)
        with anyio.fail_after(5):
            while not got:
                await anyio.sleep(0.01)
        await anyio.sleep(0.05)
    assert [(c.key, c.seq) for c in got] == [("new", 21)]


async def test_key_counts_stay_exact_while_sweeps_and_writes_cross(
    redis_server: RedisServer,
) -> None:
    """statistics() counts each write once, though a sweep's figure and the
    writes' replies come back on different connections in either order."""
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("counts"), sweep_interval=0.001) as store:

        async def writer(n: int) -> None:
            for i in range(40):
                await store.set(f"w{n}:{i}", i, ttl=3600 if i % 2 else None)
            for i in range(0, 40, 4):
                await store.delete(f"w{n}:{i}")

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(writer, n)
        stats = store.statistics()
        assert (stats.keys, stats.ttl_keys) == (8 * 30, 8 * 20)
        await anyio.sleep(0.05)  # sweeps only: the figure stays the same
        stats = store.statistics()
        assert (stats.keys, stats.ttl_keys) == (8 * 30, 8 * 20)


async def test_writes_cancelled_at_any_point_leave_the_store_consistent(
    redis_server: RedisServer,
) -> None:
    """Cancelling a write before, during or after its round trip never leaves a
    reply behind for the next command, nor a half-made entry."""
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("cancel")) as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        for i in range(300):
            with anyio.move_on_after((i % 30) * 50e-6):
                await store.set("k", i, ttl=3600 if i % 2 else None)
            value = await store.get("k")
            assert value is None or (isinstance(value, int) and value <= i)
            entry = await store.entry("k")
            assert (entry is None) == (value is None)
            if entry is not None:
                assert entry.value == value
                assert (entry.expires_at is not None) == (entry.value % 2 == 1)
        version = await store.set("k", "last")
        last = await store.entry("k")
        assert last is not None and (last.value, last.version) == ("last", version)
        with anyio.fail_after(5):
            while not got or got[-1].version != version:
                await anyio.sleep(0.01)
    versions = [change.version for change in got]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert store.statistics().keys == 1


async def test_large_batches_keep_values_ttls_and_counts(redis_server: RedisServer) -> None:
    """set_many past one bulk command's size (1,000 keys), with and without a ttl,
    over keys that had one: values, Redis's own ttls, figures and reads agree."""
    redis_server.ensure_running()
    ns = _ns("batches")
    tag = f"pf:{{{ns}}}:"
    async with RedisStore(redis_server.url, namespace=ns) as store:
        await store.set_many({f"k{i}": i for i in range(2500)}, ttl=3600)
        assert (store.statistics().keys, store.statistics().ttl_keys) == (2500, 2500)
        await store.set_many({f"k{i}": -i for i in range(3000)})  # drops the ttls, adds 500
        assert (store.statistics().keys, store.statistics().ttl_keys) == (3000, 0)
        with _raw(redis_server) as raw:
            assert {raw.pttl(f"{tag}k:k{i}") for i in (0, 999, 1000, 2499, 2999)} == {-1}
            assert raw.zcard(tag + "exp") == 0
        await store.set_many({f"k{i}": i for i in range(1200)}, ttl=60)
        assert (store.statistics().keys, store.statistics().ttl_keys) == (3000, 1200)
        with _raw(redis_server) as raw:
            assert 0 < raw.pttl(f"{tag}k:k1100") <= 60_000
            assert raw.pttl(f"{tag}k:k1300") == -1
        values = await store.get_many(f"k{i}" for i in range(3000))
        assert values == {f"k{i}": (i if i < 1200 else -i) for i in range(3000)}
        entry = await store.entry("k1100")
        assert entry is not None and entry.version == 3 and entry.expires_at is not None
        snapshot = await store.snapshot()
        assert [item.key for item in snapshot.entries] == [
            f"k{i}" for i in [*range(1200, 3000), *range(1200)]
        ], "a snapshot lists entries in commit order"
        assert len([key async for key in store.scan("k1*")]) == 1 + 10 + 100 + 1000


async def test_a_server_without_the_commands_it_needs_is_a_clear_error() -> None:
    """A server that lacks ZMSCORE (as before Redis 6.2) is refused at open."""
    server = RedisServer(options=["--rename-command", "ZMSCORE", ""])
    server.start()
    try:
        store = RedisStore(server.url, namespace=_ns("old"))
        with pytest.raises(StoreUnavailable, match=r"needs Redis 6\.2 or newer"):
            await store.__aenter__()
        assert store.statistics().closed
    finally:
        server.close()


async def test_a_namespace_in_an_earlier_layout_is_refused_untouched(
    redis_server: RedisServer,
) -> None:
    """A namespace whose last seq is still its own key (an earlier layout) is
    refused at open with what to do, and nothing of it is changed."""
    redis_server.ensure_running()
    ns = _ns("earlier")
    tag = f"pf:{{{ns}}}:"
    with _raw(redis_server) as raw:
        raw.set(tag + "seq", 7)
        raw.xadd(tag + "log", {"c": b"\x90"}, id="0-7")
        store = RedisStore(redis_server.url, namespace=ns)
        with pytest.raises(StoreUnavailable, match=r"earlier pepperflow .*delete its keys"):
            await store.__aenter__()
        assert store.statistics().closed
        keys = {key.decode() for key in raw.scan_iter(match=tag + "*")}
        assert keys == {tag + "seq", tag + "log"}
        assert raw.get(tag + "seq") == b"7"


async def test_a_write_over_a_due_ttl_commits_the_expiry_first(redis_server: RedisServer) -> None:
    """A set or a refused compare-and-set on a key whose deadline has passed
    (no sweep got to it yet) commits its expire change first, once; the
    figures follow."""
    redis_server.ensure_running()
    ns = _ns("due")
    exp = f"pf:{{{ns}}}:exp"
    changes: list[Change] = []
    async with RedisStore(redis_server.url, namespace=ns, sweep_interval=3600) as store:
        store.subscribe(None, changes.append)
        await store.set("j", "a", ttl=600)
        await store.set("k", "b", ttl=600)
        await store.set("m", "c", ttl=600)
        with _raw(redis_server) as raw:  # their deadlines pass; this store's sweeper waits
            raw.zadd(exp, {"j": time.time() - 1, "k": time.time() - 1, "m": time.time() - 1})
        del changes[:]
        assert await store.set("j", "a2") == 1, "a new key: version 1"
        with pytest.raises(VersionConflict) as refused:
            await store.set("k", "b2", if_version=1)
        assert refused.value.actual == 0, "the key expired before the compare"
        await store.set_many({"m": "c2", "n": "d"})
        assert [(type(c).__name__, c.key, c.version) for c in changes] == [
            ("ExpireChange", "j", 1),
            ("SetChange", "j", 1),
            ("ExpireChange", "k", 1),
            ("ExpireChange", "m", 1),
            ("SetChange", "m", 1),
            ("SetChange", "n", 1),
        ]
        seqs = [c.seq for c in changes]
        assert seqs == list(range(seqs[0], seqs[0] + 6)), "one seq each, in commit order"
        assert (store.statistics().keys, store.statistics().ttl_keys) == (3, 0)
        assert await store.get_many(["j", "k", "m", "n"]) == {"j": "a2", "m": "c2", "n": "d"}
        with _raw(redis_server) as raw:
            assert raw.zcard(exp) == 0
    async with RedisStore(redis_server.url, namespace=ns) as again:
        assert (again.statistics().keys, again.statistics().ttl_keys) == (3, 0)


async def test_versions_past_one_byte_count_on(redis_server: RedisServer) -> None:
    """Versions kept as msgpack ints in the meta hash grow past the one- and
    two-byte forms through set, set_many and compare-and-set."""
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("versions")) as store:
        for i in range(126):
            await store.set("k", i)
        assert await store.set("k", "a", if_version=126) == 127
        await store.set_many({"k": "b", "other": 1})  # 128: a uint8
        for i in range(127):
            await store.set("k", i)
        assert await store.set("k", "c", if_version=255) == 256  # a uint16
        entry = await store.entry("k")
        assert entry is not None and (entry.version, entry.value) == (256, "c")
        assert await store.delete("k", if_version=256)


async def test_changelog_entries_hold_a_field_per_change(redis_server: RedisServer) -> None:
    """A write's changes go to one changelog entry per 1,000, a field per
    change (its seq, msgpack) whose value is the change; a subscriber of
    another store gets every change of a large batch once, in seq order, when
    its own write needs them delivered first."""
    redis_server.ensure_running()
    ns = _ns("entries")
    log = f"pf:{{{ns}}}:log"
    received: list[Change] = []
    async with (
        RedisStore(redis_server.url, namespace=ns) as watcher,
        RedisStore(redis_server.url, namespace=ns) as writer,
    ):
        watcher.subscribe(None, received.append)
        await writer.set_many({f"k{i}": i for i in range(2500)}, ttl=600)
        await watcher.set("own", 1)  # delivered after the 2,500 it has not seen yet
        assert [c.seq for c in received] == list(range(1, 2502))
        assert [c.key for c in received[:3]] == ["k0", "k1", "k2"]
        assert received[-1].key == "own"
        with _raw(redis_server) as raw:
            entries = raw.xrange(log)
        assert [entry_id for entry_id, _ in entries] == [b"0-1000", b"0-2000", b"0-2500", b"0-2501"]
        _, fields = entries[0]
        assert len(fields) == 1000
        field, value = next(iter(fields.items()))
        assert msgspec.msgpack.decode(field) == 1, "the field is the change's seq"
        change = msgspec.msgpack.decode(value)
        assert (change["kind"], change["key"], change["seq"]) == ("set", "k0", 1)
