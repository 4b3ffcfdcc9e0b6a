"""Search, the same cases on every provider: each query field, order, pages, expiry,
concurrent writers, and (SQLite) a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from pepperflow import InvalidTags, ItemNotFound, StorageItem, StorageQuery
from pepperflow.storage.stores import _StoreStorage
from tests.support.storage_providers import Providers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

MICRO = timedelta(microseconds=1)


async def found(provider: _StoreStorage[Any], **query: Any) -> list[str]:
    """The keys a search with ``query`` gives, in its order."""
    return [result.item.metadata.key async for result in provider.search(StorageQuery(**query))]


async def fill(provider: _StoreStorage[Any]) -> dict[str, StorageItem[Any]]:
    """Six items over two content types, with tags, some expiring (in hours)."""
    now = datetime.now(UTC)
    specs: list[tuple[str, str, dict[str, str], datetime | None]] = [
        ("doc:1", "doc", {"lang": "en", "team": "a"}, None),
        ("doc:2", "doc", {"lang": "pt", "team": "a"}, now + timedelta(hours=3)),
        ("img:1", "img", {"lang": "en"}, now + timedelta(hours=1)),
        ("doc:3", "doc", {"lang": "en", "team": "b"}, now + timedelta(hours=2)),
        ("img:2", "img", {}, None),
        ("note", "doc", {"team": "a"}, now + timedelta(hours=4)),
    ]
    items = {}
    for key, content_type, tags, expires_at in specs:
        items[key] = await provider.save(key, {"k": key}, content_type, expires_at, tags)
    return items


async def test_every_query_field_selects(providers: Providers) -> None:
    async with providers() as provider:
        items = await fill(provider)
        assert await found(provider) == list(items)  # created_at order: as saved
        assert await found(provider, content_type="img") == ["img:1", "img:2"]
        assert await found(provider, tags={"lang": "en"}) == ["doc:1", "img:1", "doc:3"]
        assert await found(provider, tags={"lang": "en", "team": "a"}) == ["doc:1"]
        assert await found(provider, content_type="img", tags={"team": "a"}) == []
        assert await found(provider, tags={"lang": "fr"}) == []
        assert await found(provider, pattern="doc:") == ["doc:1", "doc:2", "doc:3"]
        assert await found(provider, pattern="*:1") == ["doc:1", "img:1"]
        assert await found(provider, pattern="?o*") == ["doc:1", "doc:2", "doc:3", "note"]
        assert await found(provider, pattern="doc:[23]", tags={"lang": "pt"}) == ["doc:2"]


async def test_time_bounds_are_inclusive_to_the_microsecond(providers: Providers) -> None:
    async with providers() as provider:
        items = await fill(provider)
        created = items["img:1"].metadata.created_at
        assert await found(provider, created_after=created) == ["img:1", "doc:3", "img:2", "note"]
        assert await found(provider, created_after=created + MICRO) == ["doc:3", "img:2", "note"]
        assert await found(provider, created_before=created) == ["doc:1", "doc:2", "img:1"]
        assert await found(provider, created_before=created - MICRO) == ["doc:1", "doc:2"]
        assert await found(provider, created_after=created, created_before=created) == ["img:1"]
        expires = items["doc:3"].metadata.expires_at
        assert expires is not None
        # Items without an expiry match no expiry bound.
        assert await found(provider, expires_after=expires) == ["doc:2", "doc:3", "note"]
        assert await found(provider, expires_before=expires) == ["img:1", "doc:3"]
        assert await found(provider, expires_before=expires - MICRO) == ["img:1"]
        far = datetime.now(UTC) + timedelta(days=1)
        assert await found(provider, expires_before=far, content_type="doc") == [
            "doc:2",
            "doc:3",
            "note",
        ]


async def test_order_and_pages(providers: Providers) -> None:
    async with providers() as provider:
        items = await fill(provider)
        by_created = list(items)
        assert await found(provider, descending=True) == by_created[::-1]
        assert await found(provider, order_by="key") == sorted(items)
        assert await found(provider, order_by="key", descending=True) == sorted(items)[::-1]
        by_expiry = ["img:1", "doc:3", "doc:2", "note", "doc:1", "img:2"]  # none last, by key
        assert await found(provider, order_by="expires_at") == by_expiry
        assert await found(provider, order_by="expires_at", descending=True) == by_expiry[::-1]
        await provider.save("doc:1", {"k": "again"}, "doc", tags={"lang": "en", "team": "a"})
        by_update = [*by_created[1:], "doc:1"]
        assert await found(provider, order_by="updated_at") == by_update
        pages = [await found(provider, offset=at, limit=4) for at in range(0, 6, 4)]
        assert pages == [by_created[:4], by_created[4:]]
        assert await found(provider, offset=2, limit=2, pattern="doc") == ["doc:3"]
        assert await found(provider, limit=0) == []
        assert await found(provider, offset=9) == []
        in_order = await found(provider, tags={"team": "a"}, order_by="key", descending=True)
        assert in_order == ["note", "doc:2", "doc:1"]
        assert await found(provider, pattern="doc:", order_by="key", offset=1, limit=1) == ["doc:2"]


async def test_an_expired_item_is_never_loaded_or_found(providers: Providers) -> None:
    # Not run (no expiry task): the item must be hidden from its deadline on anyway.
    provider = providers()
    assert await provider.delete("nothing") is False  # its store opens (Redis: connects) first
    deadline = datetime.now(UTC) + timedelta(milliseconds=500)  # past the save, even under load
    item = await provider.save("soon", 1, "doc", deadline, {"t": "x"})
    await provider.save("later", 2, "doc", tags={"t": "x"})
    assert item.metadata.expires_at is not None
    assert item.metadata.expires_at - deadline < timedelta(seconds=1)  # the save's own time
    assert await found(provider, tags={"t": "x"}) == ["soon", "later"]
    await wait_until(lambda: time.time() > item.metadata.expires_at.timestamp(), "the deadline")  # type: ignore[union-attr]
    assert await found(provider, tags={"t": "x"}) == ["later"]
    assert await found(provider, expires_after=deadline - timedelta(days=1)) == []
    with pytest.raises(ItemNotFound):
        await provider.load("soon")
    assert await provider.delete("soon") is False
    await provider.cleanup()


async def test_a_running_store_expires_items_out_of_the_index(providers: Providers) -> None:
    async with providers() as provider:
        soon = datetime.now(UTC) + timedelta(milliseconds=50)
        await provider.save("a", 1, "doc", soon, {"t": "x"})
        await wait_until(lambda: provider.store.statistics().expired == 1, "the expiry")
        assert await found(provider, tags={"t": "x"}) == []
        await provider.save("a", 2, "doc", tags={"t": "y"})
        assert await found(provider, tags={"t": "y"}) == ["a"]


async def test_a_save_replaces_tags_and_keeps_id_and_created_at(providers: Providers) -> None:
    async with providers() as provider:
        first = await provider.save("k", 1, "doc", tags={"a": "1"})
        second = await provider.save("k", 2, "img", tags={"b": "2"})
        assert second.metadata.id == first.metadata.id
        assert second.metadata.created_at == first.metadata.created_at
        assert second.metadata.updated_at > first.metadata.updated_at
        assert await found(provider, tags={"a": "1"}) == []
        assert await found(provider, content_type="doc") == []
        assert await found(provider, content_type="img", tags={"b": "2"}) == ["k"]
        assert await provider.delete("k")
        again = await provider.save("k", 3, "doc")
        assert again.metadata.id != first.metadata.id  # a new item


async def test_concurrent_writers_of_one_key_keep_its_id(providers: Providers) -> None:
    async with providers() as provider:
        first = await provider.save("shared", -1, "doc", tags={"writer": "none"})
        saved: list[StorageItem[Any]] = []

        async def pause(change: object) -> None:  # each write lets the other writers run
            await anyio.lowlevel.checkpoint()

        provider.store.subscribe(None, pause)

        async def write(n: int) -> None:
            for round_ in range(5):
                saved.append(await provider.save("shared", n, "doc", tags={"writer": str(n)}))
                await provider.save(f"own:{n}:{round_}", n, "own", tags={"writer": str(n)})

        async with anyio.create_task_group() as group:
            for n in range(8):
                group.start_soon(write, n)
        assert {item.metadata.id for item in saved} == {first.metadata.id}
        assert {item.metadata.created_at for item in saved} == {first.metadata.created_at}
        last = await provider.load("shared")
        winners = [n for n in range(8) if await found(provider, tags={"writer": str(n)})]
        assert len(await found(provider, content_type="own")) == 40
        for n in winners:
            mine = await found(provider, tags={"writer": str(n)}, content_type="doc")
            assert mine == (["shared"] if last.data == n else [])


async def test_a_restart_finds_what_was_saved(providers: Providers) -> None:
    if not providers.persistent:
        pytest.skip("an in-process provider keeps nothing across a restart")
    name = providers.new_name()
    async with providers(name) as provider:
        items = await fill(provider)
        await provider.delete("img:2")
        await provider.save("doc:3", {"k": "new"}, "doc", tags={"lang": "pt"})
        soon = datetime.now(UTC) + timedelta(milliseconds=50)
        gone = await provider.save("gone", 0, "doc", soon, tags={"lang": "pt"})
    assert gone.metadata.expires_at is not None
    await wait_until(lambda: datetime.now(UTC) > gone.metadata.expires_at, "the deadline")  # type: ignore[operator]
    async with providers(name) as again:
        assert await found(again) == ["doc:1", "doc:2", "img:1", "doc:3", "note"]
        assert await found(again, tags={"lang": "pt"}) == ["doc:2", "doc:3"]
        assert await found(again, tags={"lang": "en"}) == ["doc:1", "img:1"]
        loaded = await again.load("doc:1")
        assert loaded == items["doc:1"]


async def test_search_checks_its_query(providers: Providers) -> None:
    provider = providers()
    with pytest.raises(TypeError, match="StorageQuery"):
        provider.search({"content_type": "doc"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        StorageQuery(created_after=datetime.now())
    with pytest.raises(ValueError, match="order_by"):
        StorageQuery(order_by="size")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        StorageQuery(limit=-1)
    with pytest.raises(InvalidTags, match="str to str"):
        StorageQuery(tags={"n": 1})  # type: ignore[dict-item]
    await provider.cleanup()
