"""BaseStateManager (EPHEMERAL state): every method, its errors, versions, times, metrics."""

from __future__ import annotations

import time
from datetime import UTC, timedelta
from pathlib import Path

import anyio
import pytest

from pepperflow import (
    BaseStateManager,
    InvalidKey,
    InvalidPattern,
    InvalidTTL,
    LocalMemoryStore,
    MetricsRegistry,
    StateEntry,
    StateManager,
    StateType,
    UnencodableValue,
)
from pepperflow.stores import MemoryStore, SqliteStore
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange
from tests.support.clock import Clock, at

pytestmark = pytest.mark.anyio


async def test_get_set_exists_delete_round_trip() -> None:
    state: BaseStateManager[dict[str, int]] = BaseStateManager()
    assert await state.get("missing") is None
    assert await state.get("missing", {"n": 0}) == {"n": 0}
    assert await state.exists("a") is False
    await state.set("a", {"n": 1})
    assert await state.get("a") == {"n": 1}
    assert await state.get("a", {"n": 0}) == {"n": 1}
    assert await state.exists("a") is True
    assert await state.delete("a") is True
    assert await state.delete("a") is False
    assert await state.get("a") is None
    assert await state.exists("a") is False


async def test_a_stored_none_is_not_the_default() -> None:
    state: BaseStateManager[int | None] = BaseStateManager()
    await state.set("k", None)
    assert await state.get("k", 7) is None
    assert await state.exists("k")


async def test_versions_grow_per_key_and_times_are_per_entry() -> None:
    clock = Clock()
    state: BaseStateManager[str] = BaseStateManager(MemoryStore("s", clock=clock))
    await state.set("a", "1")
    clock.now += 10
    await state.set("b", "1")
    clock.now += 5
    await state.set("a", "2")
    a, b = await state.entry("a"), await state.entry("b")
    assert a is not None and b is not None
    assert (a.version, b.version) == (2, 1)
    assert a.created_at == at(1_700_000_000.0)
    assert a.updated_at == at(1_700_000_015.0)
    assert b.created_at == b.updated_at == at(1_700_000_010.0)
    assert a.created_at.tzinfo is UTC
    await state.delete("a")
    await state.set("a", "3")
    again = await state.entry("a")
    assert again is not None and again.version == 1, "a key set again after delete restarts"
    assert again.created_at == at(1_700_000_015.0)


async def test_entry_carries_the_type_metadata_and_expiry() -> None:
    clock = Clock()
    state: BaseStateManager[str] = BaseStateManager(MemoryStore("s", clock=clock))
    await state.set("k", "v", metadata={"by": "test"}, ttl=30)
    entry = await state.entry("k")
    assert entry == StateEntry(
        key="k",
        value="v",
        type=StateType.EPHEMERAL,
        metadata={"by": "test"},
        created_at=at(clock.now),
        updated_at=at(clock.now),
        version=1,
        expires_at=at(clock.now + 30),
    )
    await state.set("k", "w")
    entry = await state.entry("k")
    assert entry is not None
    assert entry.metadata is None, "a set replaces the metadata"
    assert entry.expires_at is None, "a set replaces the ttl"
    assert await state.entry("nothing") is None
    # The type is kept in the store's metadata, beside the caller's.
    raw = await state.store.entry("k")
    assert raw is not None and raw.metadata == {"state_type": "ephemeral"}


def test_state_entry_defaults_are_taken_when_an_entry_is_made() -> None:
    first = StateEntry("a", 1, StateType.EPHEMERAL)
    time.sleep(0.002)
    second = StateEntry("b", 2, StateType.EPHEMERAL)
    assert second.created_at > first.created_at
    assert second.updated_at > first.updated_at
    assert first.created_at.tzinfo is UTC
    assert (first.metadata, first.version, first.expires_at) == (None, 1, None)


async def test_the_type_defaults_to_the_managers_and_another_is_refused() -> None:
    state: BaseStateManager[str] = BaseStateManager(name="scratch")
    await state.set("a", "1", StateType.EPHEMERAL)
    await state.set("b", "1", "ephemeral")  # type: ignore[arg-type]
    for wrong in (StateType.PERSISTENT, StateType.SHARED, "shared"):
        with pytest.raises(ValueError, match="keeps EPHEMERAL state") as caught:
            await state.set("c", "1", wrong)  # type: ignore[arg-type]
        assert "create_manager" in str(caught.value)
    with pytest.raises(ValueError, match="unknown state type 'durable'"):
        await state.set("c", "1", "durable")  # type: ignore[arg-type]
    assert await state.exists("c") is False, "nothing stored"
    assert BaseStateManager.state_type is StateType.EPHEMERAL


async def test_metadata_is_checked_and_its_type_key_reserved() -> None:
    state: BaseStateManager[int] = BaseStateManager()
    with pytest.raises(ValueError, match="'state_type' is reserved"):
        await state.set("k", 1, metadata={"state_type": "x"})
    with pytest.raises(TypeError, match="metadata must be a mapping"):
        await state.set("k", 1, metadata=["a"])  # type: ignore[arg-type]
    with pytest.raises(UnencodableValue):
        await state.set("k", 1, metadata={"f": object()})
    assert await state.exists("k") is False


async def test_bad_keys_values_and_ttls_raise_and_store_nothing() -> None:
    state: BaseStateManager[object] = BaseStateManager()
    for key in ("", 3):
        with pytest.raises(InvalidKey):
            await state.set(key, 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await state.get(key)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await state.exists(key)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await state.delete(key)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await state.entry(key)  # type: ignore[arg-type]
    with pytest.raises(UnencodableValue):
        await state.set("k", object())
    for ttl in (0, -1, "5", float("inf")):
        with pytest.raises(InvalidTTL):
            await state.set("k", 1, ttl=ttl)  # type: ignore[arg-type]
    assert await state.list() == []


async def test_ttl_in_seconds_or_timedelta_and_expiry_is_a_change() -> None:
    clock = Clock()
    store = MemoryStore("s", clock=clock)
    changes: list[Change] = []
    store.subscribe(None, changes.append)
    state: BaseStateManager[str] = BaseStateManager(store)
    await state.set("seconds", "v", ttl=5)
    await state.set("delta", "v", ttl=timedelta(seconds=20))
    clock.now += 5
    assert await state.get("seconds") is None
    assert await state.get("delta") == "v"
    clock.now += 15
    assert await state.exists("delta") is False
    assert [type(c) for c in changes] == [SetChange, SetChange, ExpireChange, ExpireChange]
    assert [c.key for c in changes[2:]] == ["seconds", "delta"]


async def test_list_follows_the_pattern_rule_sorted() -> None:
    state: BaseStateManager[int] = BaseStateManager()
    for key in ("user:2", "user:1", "user:10", "users", "team:1", "a*b", "axb"):
        await state.set(key, 1)
    assert await state.list() == sorted(
        ["user:2", "user:1", "user:10", "users", "team:1", "a*b", "axb"]
    )
    assert await state.list("user:") == ["user:1", "user:10", "user:2"]
    assert await state.list("user:?") == ["user:1", "user:2"]
    assert await state.list("*:1") == ["team:1", "user:1"]
    assert await state.list("user:[12]") == ["user:1", "user:2"]
    assert await state.list("a\\*") == ["a*b"]
    assert await state.list("a*b") == ["a*b", "axb"]
    assert await state.list("none") == []
    with pytest.raises(InvalidPattern, match="unclosed"):
        await state.list("user:[")


async def test_list_by_type_reads_the_label_of_each_entry() -> None:
    store = MemoryStore("mixed")
    await store.set("plain", 1)  # written without a manager: the manager's type
    await store.set("tagged", 1, metadata={"state_type": "persistent"})
    state: BaseStateManager[int] = BaseStateManager(store)
    await state.set("mine", 1)
    assert await state.list(type=StateType.EPHEMERAL) == ["mine", "plain"]
    assert await state.list(type=StateType.PERSISTENT) == ["tagged"]
    assert await state.list("t", type=StateType.PERSISTENT) == ["tagged"]
    assert await state.list(type=StateType.SHARED) == []
    assert await state.list(type="persistent") == ["tagged"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown state type"):
        await state.list(type="other")  # type: ignore[arg-type]
    tagged = await state.entry("tagged")
    assert tagged is not None and tagged.type is StateType.PERSISTENT


async def test_writes_are_changes_of_the_store() -> None:
    state: BaseStateManager[str] = BaseStateManager(name="feed")
    async with state.store.changes() as feed:
        await state.set("k", "v", metadata={"m": 1})
        await state.delete("k")
        with anyio.fail_after(5):
            first = await feed.__anext__()
            second = await feed.__anext__()
    assert isinstance(first, SetChange) and first.value == "v"
    assert first.metadata == {"m": 1, "state_type": "ephemeral"}
    assert first.store == "feed"
    assert isinstance(second, DeleteChange) and second.version == 1


async def test_metrics_go_to_the_registry_passed_in() -> None:
    metrics = MetricsRegistry()
    state: BaseStateManager[str] = BaseStateManager(name="m", metrics=metrics)
    await state.set("k", "v")
    await state.get("k")
    await state.get("nope")
    await state.delete("k")
    await state.delete("k")
    with pytest.raises(InvalidKey):
        await state.get("")
    with pytest.raises(UnencodableValue):
        await state.set("k", object())  # type: ignore[arg-type]

    counts: dict[tuple[str, str, str], float] = {}
    operations = [*metrics.samples("pepperflow_operations")]
    operations += metrics.samples("pepperflow_operation_seconds")
    for sample in operations:
        assert sample.labels["component"] == "state" and sample.labels["manager"] == "m"
        operation = (sample.name, sample.labels["operation"], sample.labels["outcome"])
        counts[operation] = sample.count or sample.value  # a histogram's count, a counter's value
    for outcome in ("get", "ok"), ("get", "not_found"), ("get", "InvalidKey"), ("set", "ok"):
        assert counts["pepperflow_operations", *outcome] == 1
        assert counts["pepperflow_operation_seconds", *outcome] == 1
    assert counts["pepperflow_operations", "delete", "ok"] == 1
    assert counts["pepperflow_operations", "delete", "not_found"] == 1
    assert counts["pepperflow_operations", "set", "UnencodableValue"] == 1


async def test_a_view_without_metrics_records_nothing_and_one_with_them_everything() -> None:
    quiet: BaseStateManager[int] = BaseStateManager(name="q")
    metrics = MetricsRegistry()
    counted: BaseStateManager[int] = BaseStateManager(name="c", metrics=metrics)
    for state in (quiet, counted):
        await state.set("k", 1)
        assert await state.get("k") == 1
        assert await state.get("nope", -1) == -1
        assert await state.exists("k") and await state.delete("k")
        assert await state.list() == [] and await state.entry("k") is None
    ops = "pepperflow_operations"
    assert metrics.total(ops, manager="c") == 7
    assert metrics.total(ops, manager="q") == 0
    for operation in ("set", "exists", "delete", "list", "entry"):
        assert metrics.value(ops, component="state", manager="c", operation=operation, outcome="ok")


async def test_a_metrics_object_without_counter_is_refused() -> None:
    with pytest.raises(TypeError, match="MetricsSink"):
        BaseStateManager(metrics=object())  # type: ignore[call-overload]


async def test_an_applications_store_is_not_closed_with_the_manager() -> None:
    store = MemoryStore("app")
    state: BaseStateManager[int] = BaseStateManager(store, name="view")
    assert state.store is store
    await state.set("k", 1)
    await state.aclose()
    assert state.closed
    assert not store.statistics().closed
    assert await store.get("k") == 1
    with pytest.raises(anyio.ClosedResourceError, match="BaseStateManager 'view' is closed"):
        await state.get("k")
    with pytest.raises(anyio.ClosedResourceError):
        await state.set("k", 2)
    await state.aclose()  # idempotent


async def test_its_own_store_runs_within_async_with_and_closes_after() -> None:
    async with BaseStateManager[str](name="own") as state:
        assert isinstance(state.store, MemoryStore)
        assert state.store.statistics().running
        await state.set("short", "v", ttl=0.05)
        async with state.store.changes() as feed:
            with anyio.fail_after(5):
                change = await feed.__anext__()
        assert isinstance(change, ExpireChange), "the expiry task ran, with no access"
    assert state.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await state.exists("short")


async def test_without_async_with_it_works_and_aclose_closes_its_store() -> None:
    state: BaseStateManager[int] = BaseStateManager()
    await state.open()
    await state.set("k", 1)
    assert not state.store.statistics().running  # lazy expiry, nothing to run
    await state.aclose()
    assert state.store.statistics().closed


async def test_any_store_spec_makes_a_store_it_owns(tmp_path: Path) -> None:
    async with BaseStateManager[int](tmp_path / "a.db", name="ns") as by_path:
        assert isinstance(by_path.store, SqliteStore)
        assert (by_path.store.path, by_path.store.name) == (str(tmp_path / "a.db"), "ns")
        await by_path.set("k", 1)
    assert by_path.store.statistics().closed
    url = f"sqlite:///{tmp_path / 'b.db'}?namespace=app"
    async with BaseStateManager[int](url, name="ns") as by_url:
        assert by_url.store.name == "app:ns"
    async with BaseStateManager[int](lambda name: MemoryStore(f"made-{name}"), name="x") as made:
        assert made.store.name == "made-x"
    local = LocalMemoryStore[int](name="r055")
    over_memory = BaseStateManager[int](local)
    assert over_memory.store is local.store, "an R055 memory store lends its store"


async def test_bad_specs_and_names_are_refused() -> None:
    with pytest.raises(TypeError, match="must be a pepperflow store, a store URL"):
        BaseStateManager(3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="empty path"):
        BaseStateManager("")
    with pytest.raises(TypeError, match="not a pepperflow store"):
        BaseStateManager(lambda name: {"not": "a store"})  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="non-empty str"):
        BaseStateManager(name="")


async def test_it_is_a_state_manager_with_a_readable_repr() -> None:
    state: BaseStateManager[int] = BaseStateManager(MemoryStore("shown"), name="r")
    assert isinstance(state, StateManager)
    assert repr(state) == "<BaseStateManager 'r' over <MemoryStore 'shown'>>"


async def test_concurrent_writers_each_bump_the_version() -> None:
    state: BaseStateManager[int] = BaseStateManager()
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(state.set, "k", i)
    entry = await state.entry("k")
    assert entry is not None and entry.version == 20
