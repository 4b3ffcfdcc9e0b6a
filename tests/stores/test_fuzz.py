"""Fuzzing: the pattern rule against a real Redis, and every codec's round trip.

* Random globs (``*``, ``?``, ``[...]``, ``[^...]``, ranges, escapes, raw
  metacharacters) over random keys (control characters, multi-byte text)
  mean for :func:`~pepperflow._patterns.compile_pattern` what ``SCAN MATCH``
  and ``KEYS`` mean on the private Redis server, and the ``MATCH`` argument
  a RedisStore sends for a pattern finds the same keys.
* A change round-trips through msgpack and JSON; a store's codec admits a
  value as a fixed point that its decoders (entries, changes, SQLite rows,
  Redis replies) give back; and every backend gives back, by every read,
  from another store over its data and in its changelog, what was set.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pepperflow.stores import SqliteStore
from pepperflow.stores._codec import Codec
from pepperflow.stores.base import Entry
from pepperflow.stores.redis._decoding import Decoding
from pepperflow.stores.redis._protocol import array_header
from pepperflow.stores.redis._protocol import redis_match as match_argument
from pepperflow.stores.sqlite._rows import decode_rows
from pepperflow.streams import Change, DeleteChange, SetChange
from tests.support import strategies as fuzz
from tests.support.redis_globs import compiled as like_redis
from tests.support.redis_globs import empty_db, redis_match

if TYPE_CHECKING:
    from tests.support.new_stores import NewStore
    from tests.support.redis_server import RedisServer

#: A database of its own on the shared session server (test_patterns_redis uses 7).
GLOB_DB = 8

encode = msgspec.msgpack.encode


def same(got: Any, expected: Any) -> bool:
    """Equal, and of the same types all the way down (``1`` is not ``True`` or ``1.0``)."""
    return bool(got == expected) and encode(got) == encode(expected)


# -- patterns ------------------------------------------------------------------


@pytest.fixture(scope="module")
def glob_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with empty_db(redis_server, GLOB_DB) as client:
        yield client


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    keys=st.lists(fuzz.keys, min_size=1, max_size=12, unique=True),
    patterns=st.lists(fuzz.globs, min_size=1, max_size=6),
)
def test_globs_match_what_redis_matches(
    glob_db: redis.Redis, keys: list[str], patterns: list[str]
) -> None:
    glob_db.flushdb()
    glob_db.mset(dict.fromkeys(keys, "1"))
    for pattern in patterns:
        if (compiled := like_redis(pattern)) is None:
            continue
        ours = {key for key in keys if compiled.match(key)}
        if compiled.is_glob:
            assert ours == redis_match(glob_db, pattern), pattern
        else:
            assert ours == {key for key in keys if key.startswith(compiled.prefix)}, pattern
        assert ours == redis_match(glob_db, match_argument(compiled)), (pattern, "MATCH")
        assert all(key.startswith(compiled.prefix) for key in ours), pattern


# -- codecs --------------------------------------------------------------------


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(change=fuzz.changes())
def test_a_change_round_trips_through_msgpack(change: Change) -> None:
    data = encode(change)
    back = msgspec.msgpack.decode(data, type=Change)
    assert back == change and type(back) is type(change)
    assert encode(back) == data
    assert Codec("fuzz").decode_change(data) == change


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(change=fuzz.changes(fuzz.json_values, fuzz.json_metadata))
def test_a_change_round_trips_through_json(change: Change) -> None:
    data = msgspec.json.encode(change)
    back = msgspec.json.decode(data, type=Change)
    assert back == change and type(back) is type(change)
    assert msgspec.json.encode(back) == data


def _check_decoders(codec: Codec[Any], change: SetChange[Any, Any]) -> None:
    """Every decoder of stored bytes gives ``change`` (or its value) back."""
    key, blob = change.key, encode(change)
    delete = DeleteChange(codec.store, key, change.version, change.seq + 1, 2.0)
    both = [change, delete]
    assert same(codec.decode_value(encode(change.value)), change.value)
    assert codec.decode_entry(blob) == change
    assert codec.decode_change(blob) == change
    assert codec.decode_changes(array_header(2) + blob + encode(delete)) == both
    # SQLite's changelog rows
    assert decode_rows(codec.decode_change, [(key, blob), (key, encode(delete))]) == both
    # Redis: an entry, a reply's or XREAD's changes
    decoding = Decoding(codec)
    assert same(decoding.value(blob, key), change.value)
    assert decoding.entry(blob, key) == change
    assert decoding.entry_or_skipped(blob) == change
    assert decoding.changes([blob, encode(delete)]) == both


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(key=fuzz.keys, value=fuzz.rich_values, metadata=fuzz.metadata)
def test_the_untyped_codec_admits_what_its_decoders_give_back(
    key: str, value: Any, metadata: Any
) -> None:
    codec: Codec[Any] = Codec("fuzz")
    admitted = codec.admit(key, value)
    assert same(codec.admit(key, admitted), admitted), "admitting twice changed it"
    assert same(msgspec.msgpack.decode(encode(value)), admitted)
    meta = None if metadata is None else codec.admit_metadata(key, metadata)
    _check_decoders(codec, SetChange("fuzz", key, 3, 7, 1.5, admitted, 1.0, meta, None))


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(key=fuzz.keys, item=fuzz.items, expires_at=st.none() | st.floats(0, 4e9))
def test_a_typed_codec_admits_what_its_decoders_give_back(
    key: str, item: fuzz.Item, expires_at: float | None
) -> None:
    codec: Codec[fuzz.Item] = Codec("fuzz", fuzz.Item)
    admitted = codec.admit(key, item)
    assert type(admitted) is fuzz.Item
    assert admitted == msgspec.structs.replace(
        item, at=None if item.at is None else item.at.astimezone(datetime.UTC)
    )
    _check_decoders(codec, SetChange("fuzz", key, 1, 1, 1.0, admitted, 1.0, None, expires_at))


# -- stores --------------------------------------------------------------------

_store_settings = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    # new_store is the same for every example: it opens a new store per call.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _check_round_trip(
    new_store: NewStore, key: str, value: Any, metadata: Any, ttl: Any, **options: Any
) -> None:
    """Set ``key``; every read, another store over the data, and the changelog agree."""
    async with new_store(**options) as store:
        expected = store.codec.admit(key, value)
        meta = None if metadata is None else store.codec.admit_metadata(key, metadata)
        seen: list[Change] = []
        store.subscribe(None, seen.append)
        assert await store.set(key, value, ttl=ttl, metadata=metadata) == 1
        [change] = seen
        assert isinstance(change, SetChange) and change.key == key
        assert same(change.value, expected) and same(change.metadata, meta)
        if ttl is None:
            assert change.expires_at is None
        else:
            seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl
            assert change.expires_at == pytest.approx(change.committed_at + seconds)
        entry = Entry.from_change(change)
        assert same(await store.get(key), expected)
        assert await store.entry(key) == entry
        assert same(await store.get_many([key]), {key: expected})
        assert (await store.snapshot()).entries == [entry]
        assert [k async for k in store.scan()] == [key]
        if isinstance(store, SqliteStore):
            assert await store.changes_since(0) == [change]
        if new_store.backend == "memory":
            return
        async with new_store(store.name, **options) as again:
            assert await again.entry(key) == entry
            async with again.changes(replay=True) as feed:
                assert await feed.__anext__() == change


@pytest.mark.anyio
@_store_settings
@given(key=fuzz.keys, value=fuzz.rich_values, metadata=fuzz.metadata, ttl=fuzz.ttls)
async def test_every_backend_gives_back_what_was_set(
    new_store: NewStore, key: str, value: Any, metadata: Any, ttl: Any
) -> None:
    await _check_round_trip(new_store, key, value, metadata, ttl)


@pytest.mark.anyio
@_store_settings
@given(key=fuzz.keys, item=fuzz.items, ttl=fuzz.ttls)
async def test_every_typed_backend_gives_back_what_was_set(
    new_store: NewStore, key: str, item: fuzz.Item, ttl: Any
) -> None:
    await _check_round_trip(new_store, key, item, None, ttl, type=fuzz.Item)
