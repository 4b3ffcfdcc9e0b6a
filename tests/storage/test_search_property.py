"""Property: a search through the index gives what a brute-force filter over every item gives.

Hypothesis draws saves (keys, content types and tags from small alphabets,
so that they collide; some with an expiry) and deletes, then queries over
every field with time bounds drawn at and around the items' own times. The
oracle loads every key and filters, orders and pages the items in plain
Python, by R065's rules as docs/storage.md states them; and the index must
equal one rebuilt from scratch over the store's state (on Redis: the index
as Redis holds it).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pepperflow import ItemNotFound, StorageItem, StorageQuery
from pepperflow._patterns import compile_pattern
from pepperflow.storage.stores import _StoreStorage
from tests.stores.test_store_index import assert_index_agrees
from tests.support.redis_index import assert_redis_index_agrees
from tests.support.storage_providers import make_providers

pytestmark = pytest.mark.anyio

MICRO = timedelta(microseconds=1)
KEYS = ["a", "a:1", "a:2", "b:1", "b:22", "ab", "b", "c:1"]
TYPES = ["doc", "img"]
tags = st.dictionaries(st.sampled_from(["lang", "team"]), st.sampled_from(["en", "pt"]), max_size=2)
hours = st.none() | st.integers(1, 5)  # until it expires
saves = st.tuples(st.just("save"), st.sampled_from(KEYS), st.sampled_from(TYPES), tags, hours)
deletes = st.tuples(st.just("delete"), st.sampled_from(KEYS))


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Saves of most keys, then saves and deletes of any."""
    first = [
        ("save", key, draw(st.sampled_from(TYPES)), draw(tags), draw(hours))
        for key in KEYS
        if draw(st.integers(0, 4))
    ]
    return first + draw(st.lists(saves | deletes, max_size=10))


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    """A query's fields; a time bound is given as (field, item index, microseconds shift)."""
    fields: dict[str, Any] = {}
    sometimes = st.integers(0, 2).map(lambda n: n == 0)  # a field in three queries
    if draw(sometimes):
        fields["pattern"] = draw(st.sampled_from(["a", "a:", "b", "*1", "?:*", "a[b:]*", ""]))
    if draw(sometimes):
        fields["content_type"] = draw(st.sampled_from(TYPES))
    if draw(sometimes):
        fields["tags"] = draw(tags)
    for name in ("created_after", "created_before", "expires_after", "expires_before"):
        if draw(sometimes):
            fields[name] = (draw(st.integers(0, 20)), draw(st.sampled_from([-1, 0, 1])))
    fields["order_by"] = draw(st.sampled_from(["created_at", "updated_at", "expires_at", "key"]))
    fields["descending"] = draw(st.booleans())
    fields["offset"] = draw(st.sampled_from([0, 0, 0, 1, 3]))
    fields["limit"] = draw(st.sampled_from([None, None, None, 0, 1, 2, 5]))
    return fields


def _bound(items: list[StorageItem[Any]], name: str, spec: tuple[int, int]) -> datetime:
    """A bound at (or a microsecond around) one item's time, or a fixed one without items."""
    at, shift = spec
    times = [
        item.metadata.created_at if name.startswith("created") else item.metadata.expires_at
        for item in items
    ]
    known = [moment for moment in times if moment is not None]
    if not known:
        return datetime(2000, 1, 1, tzinfo=UTC)
    return known[at % len(known)] + shift * MICRO


def _matches(item: StorageItem[Any], query: StorageQuery) -> bool:
    meta = item.metadata
    if query.pattern and not compile_pattern(query.pattern).match(meta.key):
        return False
    if query.content_type is not None and meta.content_type != query.content_type:
        return False
    if any(meta.tags.get(name) != value for name, value in (query.tags or {}).items()):
        return False
    created_after, created_before = query.created_after, query.created_before
    if created_after is not None and meta.created_at < created_after:
        return False
    if created_before is not None and meta.created_at > created_before:
        return False
    for bound, later in ((query.expires_after, True), (query.expires_before, False)):
        if bound is None:
            continue
        if meta.expires_at is None or (
            meta.expires_at < bound if later else meta.expires_at > bound
        ):
            return False
    return True


def _sort_key(query: StorageQuery) -> Any:
    def key(item: StorageItem[Any]) -> Any:
        meta = item.metadata
        if query.order_by == "key":
            return (meta.key,)
        if query.order_by == "expires_at":
            return (0, meta.expires_at, meta.key) if meta.expires_at else (1, meta.key)
        return (getattr(meta, query.order_by), meta.key)

    return key


def brute_force(items: list[StorageItem[Any]], query: StorageQuery) -> list[str]:
    """What the query gives by R065's rules, over every item."""
    hits = sorted(
        (item for item in items if _matches(item, query)),
        key=_sort_key(query),
        reverse=query.descending,
    )
    end = None if query.limit is None else query.offset + query.limit
    return [item.metadata.key for item in hits[query.offset : end]]


async def _apply(provider: _StoreStorage[Any], operations: list[tuple[Any, ...]]) -> None:
    now = datetime.now(UTC)
    for operation in operations:
        if operation[0] == "delete":
            await provider.delete(operation[1])
            continue
        _, key, content_type, item_tags, hours = operation
        expires_at = None if hours is None else now + timedelta(hours=hours)
        await provider.save(key, {"key": key}, content_type, expires_at, item_tags)


async def _every_item(provider: _StoreStorage[Any]) -> list[StorageItem[Any]]:
    items = []
    for key in KEYS:
        with contextlib.suppress(ItemNotFound):
            items.append(await provider.load(key))
    return items


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations(), specs=st.lists(queries(), min_size=1, max_size=6))
async def test_search_equals_a_brute_force_filter(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    operations: list[tuple[Any, ...]],
    specs: list[dict[str, Any]],
) -> None:
    providers = make_providers(request, backend, tmp_path_factory.mktemp(backend))
    async with providers() as provider:
        await _apply(provider, operations)
        items = await _every_item(provider)
        if providers.server is not None:  # the index in Redis
            await assert_redis_index_agrees(providers.server, provider.store)
        else:
            assert_index_agrees(provider.store)
        for spec in specs:
            fields = {
                name: _bound(items, name, value) if name.endswith(("_after", "_before")) else value
                for name, value in spec.items()
            }
            query = StorageQuery(**fields)  # type: ignore[arg-type]
            got = [result.item.metadata.key async for result in provider.search(query)]
            assert got == brute_force(items, query), query
