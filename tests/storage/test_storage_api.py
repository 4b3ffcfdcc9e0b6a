"""The storage API on every provider: types, errors, the manager, watches, ContentStorage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest

from pepperflow import (
    ContentStorage,
    InvalidTags,
    InvalidValue,
    ItemNotFound,
    LocalStorageProvider,
    MetricsRegistry,
    StorageEvent,
    StorageItem,
    StorageQuery,
    UnifiedStorageManager,
    UnknownContentType,
)
from tests.support.storage_providers import Providers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


class Artifact(msgspec.Struct, frozen=True):
    name: str
    body: bytes
    made: datetime


ARTIFACT = Artifact("plan.md", b"# plan", datetime(2024, 2, 22, tzinfo=UTC))


async def test_a_load_gives_the_type_saved_also_after_a_restart(providers: Providers) -> None:
    name = providers.new_name()
    async with providers(name, type=Artifact) as provider:
        saved = await provider.save("a", ARTIFACT, "artifact")
        loaded = await provider.load("a")
        assert loaded == saved and type(loaded.data) is Artifact and loaded.data == ARTIFACT
        with pytest.raises(InvalidValue):
            await provider.save("b", {"name": "x"}, "artifact")
    if providers.persistent:
        async with providers(name, type=Artifact) as again:
            assert (await again.load("a")) == saved


async def test_bad_input_is_refused_and_nothing_is_stored(providers: Providers) -> None:
    async with providers() as provider:
        with pytest.raises(InvalidTags, match="str to str"):
            await provider.save("k", 1, "doc", tags={"n": 1})  # type: ignore[dict-item]
        with pytest.raises(InvalidTags, match="mapping"):
            await provider.save("k", 1, "doc", tags=["a"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="content_type"):
            await provider.save("k", 1, "")
        with pytest.raises(TypeError, match="content_type"):
            await provider.save("k", 1, None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            await provider.save("k", 1, "doc", datetime.now() + timedelta(hours=1))
        with pytest.raises(ValueError, match="not in the future"):
            await provider.save("k", 1, "doc", datetime.now(UTC) - timedelta(seconds=1))
        with pytest.raises(TypeError, match="UUID"):
            await provider.save("k", 1, "doc", id="1234")  # type: ignore[arg-type]
        assert provider.store.statistics().seq == 0
        first = await provider.save("k", 1, "doc")
        with pytest.raises(ValueError, match="keeps its id"):
            await provider.save("k", 2, "doc", id=uuid4())
        assert (await provider.load("k")) == first


async def test_a_missing_item_is_a_key_error_naming_key_and_type(providers: Providers) -> None:
    async with providers() as provider:
        await provider.save("k", 1, "doc")
        with pytest.raises(KeyError) as raised:
            await provider.load("nothing")
        assert isinstance(raised.value, ItemNotFound) and raised.value.key == "nothing"
        assert "'nothing'" in str(raised.value)
        with pytest.raises(ItemNotFound, match="content type 'img' under key 'k'"):
            await provider.load("k", content_type="img")
        assert await provider.delete("k", content_type="img") is False
        assert await provider.delete("k", content_type="doc") is True
        assert await provider.delete("k") is False


async def test_operations_are_measured() -> None:
    registry = MetricsRegistry()
    provider = LocalStorageProvider(name="m", metrics=registry)
    await provider.save("k", 1, "doc")
    with pytest.raises(ItemNotFound):
        await provider.load("x")
    await provider.delete("x")
    outcomes = {
        (s.labels["operation"], s.labels["outcome"])
        for s in registry.samples()
        if s.name == "pepperflow_operations" and s.labels["component"] == "storage"
    }
    assert outcomes == {("save", "ok"), ("load", "ItemNotFound"), ("delete", "not_found")}
    await provider.cleanup()


async def test_the_manager_routes_by_content_type(providers: Providers) -> None:
    docs, images = providers(), providers()
    manager = UnifiedStorageManager()
    manager.register_provider("doc", docs)
    manager.register_provider("note", docs)  # one provider, two content types
    manager.register_provider("img", images)
    with pytest.raises(UnknownContentType, match=r"'video' \(registered: 'doc', 'img', 'note'\)"):
        await manager.save("v", 1, "video")
    with pytest.raises(ValueError, match="served by"):
        manager.register_provider("img", docs)
    with pytest.raises(TypeError, match="StorageProvider"):
        manager.register_provider("x", object())  # type: ignore[arg-type]
    await manager.save("d", 1, "doc", tags={"t": "1"})
    await manager.save("n", 2, "note", tags={"t": "1"})
    await manager.save("i", 3, "img", tags={"t": "1"})
    with pytest.raises(ItemNotFound, match="content type 'note'"):
        await manager.load("d", "note")  # the provider has it, as a doc
    assert await manager.delete("d", "note") is False
    assert (await manager.load("d", "doc")).data == 1
    everything = StorageQuery(tags={"t": "1"}, order_by="key")
    assert [r.item.metadata.key async for r in manager.search(everything)] == ["d", "i", "n"]
    page = StorageQuery(order_by="key", descending=True, offset=1, limit=1)
    assert [r.item.metadata.key async for r in manager.search(page)] == ["i"]
    notes = StorageQuery(content_type="note")
    assert [r.item.metadata.key async for r in manager.search(notes)] == ["n"]
    assert manager.unregister_provider("img") is images
    assert manager.content_types == ["doc", "note"]
    await manager.cleanup()
    assert docs.closed and not images.closed
    await images.cleanup()


async def test_a_scorer_scores_each_result(providers: Providers) -> None:
    async with providers() as provider:
        await provider.save("a", "alpha beta", "doc")
        await provider.save("b", "beta", "doc")

        def scorer(query: StorageQuery, item: StorageItem[Any]) -> tuple[float, list[str]]:
            words = str(item.data).split()
            return len(words) / 2, [w for w in words if w == "beta"]

        results = [r async for r in provider.search(StorageQuery(), scorer=scorer)]
        assert [(r.score, r.highlights) for r in results] == [(1.0, ["beta"]), (0.5, ["beta"])]


async def test_a_watch_gives_the_matches_then_what_starts_and_stops_matching(
    providers: Providers,
) -> None:
    async with providers() as provider:
        await provider.save("old", 0, "doc", tags={"t": "x"})
        await provider.save("other", 0, "doc", tags={"t": "y"})
        events: list[StorageEvent[Any]] = []
        async with provider.watch(StorageQuery(tags={"t": "x"})) as watch:
            seen = watch.__aiter__()
            events.append(await seen.__anext__())
            soon = datetime.now(UTC) + timedelta(milliseconds=50)
            await provider.save("new", 1, "doc", soon, tags={"t": "x"})
            await provider.save("old", 2, "doc", tags={"t": "x"})
            await provider.save("other", 3, "doc", tags={"t": "x"})
            await provider.save("old", 4, "doc", tags={"t": "z"})
            await provider.delete("other")
            with anyio.fail_after(10):
                while len(events) < 7:
                    events.append(await seen.__anext__())
        assert [(e.kind, e.key) for e in events] == [
            ("added", "old"),
            ("added", "new"),
            ("updated", "old"),
            ("added", "other"),
            ("removed", "old"),
            ("removed", "other"),
            ("removed", "new"),  # its expiry
        ]
        assert events[4].item.data == 2  # the last item that matched


async def test_the_manager_watches_every_provider(providers: Providers) -> None:
    manager = UnifiedStorageManager()
    manager.register_provider("doc", providers())
    manager.register_provider("img", providers())
    keys: list[str] = []
    async with manager.watch(StorageQuery(pattern="k")) as events:
        await manager.save("k1", 1, "doc")
        await manager.save("k2", 2, "img")
        await manager.save("x", 3, "img")
        with anyio.fail_after(10):
            async for event in events:
                keys.append(event.key)
                if len(keys) == 2:
                    break
    assert sorted(keys) == ["k1", "k2"]
    with pytest.raises(ValueError, match="limit and offset"):
        manager.watch(StorageQuery(limit=3))
    await manager.cleanup()


async def test_content_storage_by_uuid(providers: Providers) -> None:
    async with providers(type=Artifact) as provider:
        content = ContentStorage(provider, "artifact")
        content_id = await content.save(ARTIFACT, tags={"run": "7"})
        assert isinstance(content_id, UUID)
        assert await content.load(content_id) == ARTIFACT
        item = await provider.load(str(content_id))
        assert item.metadata.id == content_id and item.metadata.tags == {"run": "7"}
        assert await content.delete(content_id) is True
        with pytest.raises(ItemNotFound):
            await content.load(content_id)
        with pytest.raises(TypeError, match="UUID"):
            await content.load(str(content_id))  # type: ignore[arg-type]


async def test_an_unopened_sqlite_provider_opens_on_first_use(providers: Providers) -> None:
    provider = providers()
    await provider.save("k", 1, "doc")
    await wait_until(lambda: provider.store.statistics().keys == 1, "the save")
    assert (await provider.load("k")).data == 1
    await provider.cleanup()
    with pytest.raises(anyio.ClosedResourceError):
        await provider.load("k")
