"""Fuzzing with bytes that are not what a decoder expects, and text no backend stores.

Every decoder of stored bytes (a store's codec, SQLite's changelog rows,
RedisStore's entries and changes) given garbage (random bytes, msgpack of
another shape, a change truncated or with bytes changed, nesting too deep)
either decodes it or raises :class:`~pepperflow.UndecodableValue` naming
the store; a RedisStore's delivery skips a change it cannot read. Stored
bytes that were corrupted on a real server or file give the same error to
the reads, and never to a write.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import redis
from hypothesis import given, settings

from pepperflow import UndecodableValue
from pepperflow.stores import RedisStore
from pepperflow.stores._codec import Codec
from pepperflow.stores.redis._decoding import Decoding, Skipped
from pepperflow.stores.sqlite._rows import decode_rows
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange
from tests.support import strategies as fuzz

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

_untyped: Codec[Any] = Codec("fuzz")
_typed: Codec[fuzz.Item] = Codec("fuzz", fuzz.Item)

#: The decoders that raise UndecodableValue for bytes they cannot decode.
RAISING: dict[str, Callable[[bytes], object]] = {
    **{
        f"{label} {name}": getattr(codec, name)
        for label, codec in (("untyped", _untyped), ("typed", _typed))
        for name in (
            "decode_value",
            "decode_metadata",
            "decode_change",
            "decode_changes",
            "decode_entry",
        )
    },
    "sqlite rows": lambda blob: decode_rows(_typed.decode_change, [("k", blob)]),
    "redis value": lambda blob: Decoding(_typed).value(blob, "k"),
    "redis entry": lambda blob: Decoding(_typed).entry(blob, "k"),
}

_garbage_settings = settings(max_examples=150, deadline=None, database=None, derandomize=True)


@pytest.mark.parametrize("decoder", sorted(RAISING))
@_garbage_settings
@given(blob=fuzz.garbage())
def test_garbage_decodes_or_raises_undecodable_value(decoder: str, blob: bytes) -> None:
    try:
        RAISING[decoder](blob)
    except UndecodableValue as exc:
        message = str(exc)
    else:
        return
    assert "store 'fuzz'" in message


@pytest.mark.parametrize("codec", [_untyped, _typed], ids=["untyped", "typed"])
@_garbage_settings
@given(blob=fuzz.garbage())
def test_redis_delivery_skips_garbage_among_changes(codec: Codec[Any], blob: bytes) -> None:
    """The follower's and a write's decoding never raise: garbage is skipped, the rest kept."""
    decoding = Decoding(codec)
    value = codec.admit("k", fuzz.Item("x", 1))
    good: SetChange[Any, None] = SetChange("fuzz", "k", 1, 9, 1.0, value, 1.0, None, None)
    decoded = decoding.changes([blob, msgspec.msgpack.encode(good)])
    assert decoded[-1] == good
    assert all(isinstance(c, SetChange | DeleteChange | ExpireChange | Skipped) for c in decoded)
    entry = decoding.entry_or_skipped(blob)
    assert isinstance(entry, SetChange | Skipped)


# -- stored bytes corrupted on a real server or file ------------------------------

GARBAGE = b"\xc1not msgpack"
_namespaces = itertools.count()


@pytest.mark.anyio
async def test_a_corrupt_redis_entry_raises_undecodable_value_on_read(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    raw = redis.Redis(host=redis_server.host, port=redis_server.port)
    ns = f"corrupt-entry-{next(_namespaces)}"
    async with RedisStore(redis_server.url, namespace=ns) as store:
        await store.set("bad", 1)
        await store.set("good", 2)
        raw.set(f"pf:{{{ns}}}:k:bad", GARBAGE)
        for read in (store.get, store.entry, lambda key: store.get_many([key])):
            with pytest.raises(UndecodableValue, match=f"store '{ns}', key 'bad'"):
                await read("bad")
        with pytest.raises(UndecodableValue, match="not msgpack"):
            await store.snapshot()
        assert await store.get("good") == 2, "other keys stay readable"
    raw.close()


@pytest.mark.anyio
async def test_a_corrupt_redis_change_is_skipped_not_raised_into_a_write(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.ensure_running()
    raw = redis.Redis(host=redis_server.host, port=redis_server.port)
    async with RedisStore(redis_server.url, namespace="corrupt-log") as store:
        await store.clear()
        seen: list[Change] = []
        store.subscribe(None, seen.append)
        await store.set("a", 1)
        last = seen[-1].seq
        # Another writer's change, corrupted: the changelog's next entry.
        raw.xadd(
            "pf:{corrupt-log}:log", {msgspec.msgpack.encode(last + 1): GARBAGE}, id=f"0-{last + 1}"
        )
        raw.hset("pf:{corrupt-log}:meta", "", last + 1)
        with caplog.at_level(logging.ERROR, logger="pepperflow"):
            await store.set("b", 2)  # delivers everything up to its own change
        assert [(c.key, c.seq) for c in seen[-1:]] == [("b", last + 2)]
        assert "not msgpack" in caplog.text
    raw.close()
