"""RedisStore with a value type: typed reads, refused values, old bytes, schema evolution.

Every test runs with each driver: redis-py and coredis on asyncio, coredis on trio.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import anyio
import msgspec
import pytest
import redis

from pepperflow._errors import InvalidValue, UndecodableValue
from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.streams import Change, SetChange
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_child import Meta, Msg
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_namespaces = itertools.count()
AT = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


class MsgV2(msgspec.Struct, frozen=True):
    """Msg (role, text, at, tags) a deployment later: a new field with a
    default, ``tags`` removed."""

    role: str
    text: str
    at: datetime
    lang: str = "en"


def _ns(name: str) -> str:
    return f"typed-{name}-{next(_namespaces)}"


async def _until(done: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not done():
            await anyio.sleep(0.005)


async def test_a_typed_store_gives_back_instances_of_its_type_on_every_read(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    ns, url = _ns("round"), redis_server.url
    msg = Msg("user", "hi", AT, ("a", "b"))
    got: list[Change] = []
    async with (
        RedisStore(url, namespace=ns, type=Msg, metadata_type=Meta, driver=driver) as store,
        RedisStore(url, namespace=ns, type=Msg, metadata_type=Meta, driver=driver) as other,
    ):
        other.subscribe(None, got.append)
        await store.set("m:1", msg, metadata=Meta("ada"))
        await store.set_many({"m:2": Msg("bot", "yo", AT), "m:3": Msg("bot", "!", AT)})
        for reader in (store, other):
            value = await reader.get("m:1")
            assert type(value) is Msg and value == msg
            many = await reader.get_many(["m:1", "m:2", "nope"])
            assert many == {"m:1": msg, "m:2": Msg("bot", "yo", AT)}
            entry = await reader.entry("m:1")
            assert entry is not None and entry.value == msg and entry.metadata == Meta("ada")
        snapshot = await other.snapshot()
        assert [type(e.value) for e in snapshot.entries] == [Msg, Msg, Msg]
        await other.restore(snapshot)
        assert await other.get("m:1") == msg, "restore keeps the typed value"
        await _until(lambda: len(got) >= 3)
    first = got[0]
    assert isinstance(first, SetChange) and first.value == msg and first.metadata == Meta("ada")
    assert all(type(c.value) is Msg for c in got if isinstance(c, SetChange))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (datetime, AT),
        (date, date(2026, 5, 1)),
        (uuid.UUID, uuid.UUID(int=7)),
        (Decimal, Decimal("1.10")),
        (tuple[int, str], (1, "a")),
        (set[int], {1, 2}),
        (dict[str, Msg], {"a": Msg("user", "hi", AT)}),
    ],
    ids=lambda p: getattr(p, "__name__", None) or repr(p)[:20],
)
async def test_each_type_comes_back_as_itself(
    redis_server: RedisServer, driver: DriverName, kind: Any, value: Any
) -> None:
    redis_server.ensure_running()
    ns = _ns("kinds")
    async with RedisStore(redis_server.url, namespace=ns, type=kind, driver=driver) as store:
        await store.set("k", value)
    async with RedisStore(redis_server.url, namespace=ns, type=kind, driver=driver) as again:
        back = await again.get("k")
    assert back == value and type(back) is type(value)


async def test_a_value_not_of_the_type_is_refused_and_nothing_is_stored_or_emitted(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    ns = _ns("refused")
    got: list[Change] = []
    async with RedisStore(
        redis_server.url, namespace=ns, type=Msg, metadata_type=Meta, driver=driver
    ) as store:
        store.subscribe(None, got.append)
        with pytest.raises(InvalidValue, match=r"key 'k'.*not a Msg.*\$\.text"):
            await store.set("k", Msg("user", 3, AT))  # type: ignore[arg-type]
        with pytest.raises(InvalidValue, match=r"key 'k'.*not a Msg.*it is a dict"):
            await store.set("k", {"role": "user", "text": "hi", "at": AT})
        with pytest.raises(InvalidValue, match="key 'b'"):
            await store.set_many({"a": Msg("user", "ok", AT), "b": "not a message"})
        with pytest.raises(InvalidValue, match="metadata"):
            await store.set("a", Msg("user", "ok", AT), metadata={"by": 1}, if_version=0)
        assert await store.get_many(["k", "a", "b"]) == {}
        assert store.statistics().seq == 0
    assert got == [], "a refused write emitted a change"
    with redis.Redis(host=redis_server.host, port=redis_server.port) as raw:
        assert raw.keys(f"pf:{{{ns}}}:k:*") == [], "a refused write stored an entry"


async def test_stored_bytes_that_no_longer_fit_name_the_key_and_spare_the_others(
    redis_server: RedisServer, driver: DriverName, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.ensure_running()
    ns, url = _ns("old"), redis_server.url
    good = Msg("user", "hi", AT)
    got: list[Change] = []
    async with (
        RedisStore(url, namespace=ns, driver=driver) as untyped,
        RedisStore(url, namespace=ns, type=Msg, driver=driver) as typed,
    ):
        typed.subscribe(None, got.append)
        with caplog.at_level(logging.ERROR, logger="pepperflow"):
            await untyped.set("bad", {"role": "user", "text": 3})
            # A Struct stored untyped is the same map; one change of two fits.
            await untyped.set_many({"good": good, "bad:2": ["a", "list"]})
            await _until(lambda: len(got) == 1 and typed.statistics().seq == 3)
        assert [c.key for c in got] == ["good"], "the feed skips the changes that do not fit"
        assert typed.undecodable_changes == 2
        assert "change 1 (key 'bad') skipped" in caplog.text
        assert "change 3 (key 'bad:2') skipped" in caplog.text
        for read in (
            lambda: typed.get("bad"),
            lambda: typed.get_many(["good", "bad"]),
            lambda: typed.entry("bad"),
            typed.snapshot,
        ):
            with pytest.raises(UndecodableValue, match=f"store '{ns}', key 'bad'"):
                await read()
        assert await typed.get("good") == good
        assert await typed.get_many(["good"]) == {"good": good}
        async with typed.changes(replay=True) as feed:
            replayed = await feed.__anext__()
        assert replayed.key == "good", "the replay skips the entries that do not fit"
        assert typed.undecodable_changes == 4
        await untyped.clear("bad")
        await typed.set("after", good)
        assert await typed.get("after") == good, "the store goes on"


async def test_a_struct_that_gained_and_lost_fields_reads_the_old_values(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    ns, url = _ns("evolve"), redis_server.url
    got: list[Change] = []
    async with (
        RedisStore(url, namespace=ns, type=Msg, driver=driver) as old,
        RedisStore(url, namespace=ns, type=MsgV2, driver=driver) as new,
    ):
        new.subscribe(None, got.append)
        await old.set("m", Msg("user", "hi", AT, ("a",)))
        assert await new.get("m") == MsgV2("user", "hi", AT), "the new field takes its default"
        await new.set("n", MsgV2("bot", "ola", AT, lang="pt"))
        assert await old.get("n") == Msg("bot", "ola", AT), "the old type skips the new field"
        await _until(lambda: len(got) == 2)
    assert [c.value for c in got if isinstance(c, SetChange)] == [
        MsgV2("user", "hi", AT),
        MsgV2("bot", "ola", AT, lang="pt"),
    ]
