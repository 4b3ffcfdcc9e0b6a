"""A store's index (``index=terms``): kept in step with the state by every path that
changes it, answering ``find`` as the state would; its sorted lists; its errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pepperflow.stores import Lookup, MemoryStore, SqliteStore, Store
from pepperflow.stores._indexed import IndexedState, TermIndex
from pepperflow.stores._sorted import SortedList
from tests.support.waiting import wait_until


def colors(value: Any, metadata: Any) -> list[str]:
    return [f"color:{c}" for c in (metadata or {}).get("colors", [])]


def assert_index_agrees(store: Store[Any]) -> None:
    """The store's index equals one built from scratch over its state."""
    state = store._data  # type: ignore[attr-defined]
    assert isinstance(state, IndexedState)
    live, fresh = (
        state.index,
        IndexedState(TermIndex(store.name, state.index.terms_of), state.values()).index,
    )
    assert live.postings == fresh.postings
    assert live.terms == fresh.terms
    for listed in ("created", "expires", "keys"):
        assert list(getattr(live, listed).irange(None, None)) == list(
            getattr(fresh, listed).irange(None, None)
        ), listed


async def keys(store: Store[Any], **lookup: Any) -> list[str]:
    return [entry.key async for entry in store.find(Lookup(**lookup))]


# -- the sorted list -------------------------------------------------------------


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    adds=st.lists(st.integers(0, 5000), unique=True, max_size=3000),
    removes=st.lists(st.integers(0, 5000), max_size=500),
    lo=st.none() | st.integers(-1, 5001),
    hi=st.none() | st.integers(-1, 5001),
)
def test_sorted_list_is_a_sorted_list(
    adds: list[int], removes: list[int], lo: int | None, hi: int | None
) -> None:
    listed: SortedList[int] = SortedList()
    model: set[int] = set()
    for item in adds:
        listed.add(item)
        model.add(item)
    for item in removes:
        if item in model:
            listed.remove(item)
            model.discard(item)
        else:
            with pytest.raises(ValueError, match="not in the list"):
                listed.remove(item)
    want = sorted(i for i in model if (lo is None or lo <= i) and (hi is None or i < hi))
    assert len(listed) == len(model)
    assert listed.count(lo, hi) == len(want)
    assert list(listed.irange(lo, hi)) == want
    assert list(listed.irange(lo, hi, reverse=True)) == want[::-1]


# -- every path that changes the state keeps the index -----------------------------


@pytest.mark.anyio
async def test_memory_writes_expiries_and_restores_keep_the_index() -> None:
    now = [1000.0]
    store = MemoryStore(index=colors, clock=lambda: now[0])
    await store.set("a", 1, metadata={"colors": ["red", "blue"]})
    await store.set("b", 2, metadata={"colors": ["red"]}, ttl=5)
    await store.set_many({"c": 3, "d": 4}, metadata={"colors": ["green"]}, ttl=10)
    await store.set("a", 5, metadata={"colors": ["blue"]})
    assert_index_agrees(store)
    assert await keys(store, terms=frozenset({"color:red"})) == ["b"]
    now[0] += 6  # b is past its deadline: never found, then expired on access
    assert await keys(store, terms=frozenset({"color:red"})) == []
    assert await store.get("b") is None
    assert_index_agrees(store)
    snapshot = await store.snapshot()
    assert await store.delete("a")
    assert await store.clear("c") == 1
    assert_index_agrees(store)
    assert await keys(store) == ["d"]
    assert await store.delete("d")
    now[0] += 1
    await store.set("d", 4, metadata={"colors": ["green"]})  # created again, later
    assert await keys(store, created_after=datetime.fromtimestamp(now[0], UTC)) == ["d"]
    await store.restore(snapshot)  # d keeps the snapshot's created_at
    assert_index_agrees(store)
    assert await keys(store, order_by="key") == ["a", "c", "d"]
    assert await keys(store, created_after=datetime.fromtimestamp(now[0], UTC)) == []
    await store.aclose()


@pytest.mark.anyio
async def test_the_expiry_task_keeps_the_index() -> None:
    async with MemoryStore(index=colors) as store:
        await store.set("a", 1, metadata={"colors": ["red"]}, ttl=0.05)
        await store.set("b", 1, metadata={"colors": ["red"]})
        await wait_until(lambda: store.statistics().expired == 1, "the expiry")
        assert_index_agrees(store)
        assert await keys(store, terms=frozenset({"color:red"})) == ["b"]


@pytest.mark.anyio
async def test_sqlite_folds_another_stores_writes_into_its_index(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with (
        SqliteStore(path, index=colors, poll_interval=0.01) as reader,
        SqliteStore(path, index=colors) as writer,
    ):
        await writer.set("a", 1, metadata={"colors": ["red"]})
        await writer.set("b", 2, metadata={"colors": ["red"]}, ttl=0.05)
        await writer.set("a", 3, metadata={"colors": ["blue"]})
        await wait_until(lambda: reader.statistics().seq >= 3, "the reader to follow")
        assert await keys(reader, terms=frozenset({"color:blue"})) == ["a"]
        await wait_until(lambda: reader.statistics().keys == 1, "b's expiry, followed")
        assert await keys(reader, terms=frozenset({"color:red"})) == []
        assert_index_agrees(reader)
    async with SqliteStore(path, index=colors) as reopened:  # rebuilt from the changelog
        assert_index_agrees(reopened)
        assert await keys(reopened, terms=frozenset({"color:blue"})) == ["a"]


# -- errors ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_bad_index_function_stores_nothing() -> None:
    store = MemoryStore(index=lambda value, metadata: value)
    with pytest.raises(TypeError, match="iterable of str terms"):
        await store.set("k", "one str")
    with pytest.raises(TypeError, match="terms must be str"):
        await store.set("k", [1])
    with pytest.raises(TypeError, match="iterable of str terms"):
        await store.set_many({"k": 3})
    assert await store.get("k") is None and store.statistics().seq == 0
    with pytest.raises(TypeError, match="index must be a function"):
        MemoryStore(index="colors")  # type: ignore[call-overload]


@pytest.mark.anyio
async def test_an_index_function_failing_on_a_stored_entry_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = [0]

    def flaky(value: Any, metadata: Any) -> list[str]:
        calls[0] += 1
        if calls[0] == 2:  # the commit, after the edge's check: not deterministic
            raise RuntimeError("flaky")
        return ["t"]

    store = MemoryStore(index=flaky)
    await store.set("k", 1)
    assert "indexed without terms" in caplog.text
    assert await keys(store, terms=frozenset({"t"})) == []
    assert await keys(store, pattern="k") == ["k"]


@pytest.mark.anyio
async def test_find_says_what_is_wrong() -> None:
    with pytest.raises(TypeError, match="keeps no index; build it with index="):
        MemoryStore().find(Lookup())
    store = MemoryStore(index=colors)
    with pytest.raises(TypeError, match=r"takes a pepperflow\.stores\.Lookup"):
        store.find({"terms": []})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Lookup(created_after=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="offset"):
        Lookup(offset=-1)
    with pytest.raises(TypeError, match="frozenset of str"):
        Lookup(terms={"a"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="changes only by"):
        store._data.clear()
    await store.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        store.find(Lookup())


@pytest.mark.anyio
async def test_find_skips_what_expired_while_iterating() -> None:
    now = [1000.0]
    store = MemoryStore(index=colors, clock=lambda: now[0])
    await store.set("a", 1, ttl=5)
    await store.set("b", 2)
    found = store.find(Lookup())
    now[0] += 6
    assert [entry.key async for entry in found] == ["b"]
