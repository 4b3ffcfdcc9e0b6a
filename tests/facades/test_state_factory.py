"""StateManagerFactory: managers by name and type, store specs, defaults, lifecycle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import (
    BaseStateManager,
    MetricsRegistry,
    PersistentStateManager,
    SharedStateManager,
    StateManagerFactory,
    StateType,
    UnknownStoreURL,
    default_state_path,
)
from pepperflow.stores import MemoryStore, SqliteStore, Store
from pepperflow.streams import ExpireChange
from tests.support.cells import run_cells

pytestmark = pytest.mark.anyio


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in ``tmp_path`` with PEPPERFLOW_HOME unset, so defaults land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)
    return tmp_path


async def test_one_manager_per_name_of_the_class_for_its_type(in_tmp: Path) -> None:
    async with StateManagerFactory() as factory:
        ephemeral = factory.create_manager("a")
        persistent = factory.create_manager("b", "persistent")
        shared = factory.create_manager("c", StateType.SHARED)
        assert type(ephemeral) is BaseStateManager
        assert type(persistent) is PersistentStateManager
        assert type(shared) is SharedStateManager
        assert factory.create_manager("a") is ephemeral
        assert factory.create_manager("a", "ephemeral") is ephemeral
        assert factory.create_manager("b", StateType.PERSISTENT) is persistent
        assert factory.create_manager("c", "SHARED") is shared
        assert (ephemeral.name, persistent.name, shared.name) == ("a", "b", "c")


async def test_a_name_taken_by_another_type_unknown_types_and_bad_names_are_refused(
    in_tmp: Path,
) -> None:
    async with StateManagerFactory() as factory:
        factory.create_manager("a")
        with pytest.raises(ValueError, match="'a' exists and keeps EPHEMERAL state"):
            factory.create_manager("a", "persistent")
        with pytest.raises(ValueError, match="unknown state type 'durable'"):
            factory.create_manager("x", "durable")
        with pytest.raises(ValueError, match="non-empty str"):
            factory.create_manager("")


async def test_defaults_memory_sqlite_in_the_working_directory_and_memory(in_tmp: Path) -> None:
    async with StateManagerFactory() as factory:
        ephemeral = factory.create_manager("e")
        persistent = factory.create_manager("p", "persistent")
        shared = factory.create_manager("s", "shared")
        assert isinstance(ephemeral.store, MemoryStore) and ephemeral.store.name == "e"
        assert isinstance(shared.store, MemoryStore) and shared.store.name == "s"
        assert isinstance(persistent.store, SqliteStore)
        assert persistent.store.path == str(in_tmp / ".pepperflow" / "state.db")
        assert persistent.store.name == "p"
        await persistent.set("k", 1)
    assert (in_tmp / ".pepperflow" / "state.db").exists()


async def test_pepperflow_home_moves_the_default_file(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEPPERFLOW_HOME", str(in_tmp / "home"))
    assert default_state_path() == in_tmp / "home" / "state.db"
    async with StateManagerFactory() as factory:
        persistent = factory.create_manager("p", "persistent")
        await persistent.set("k", 1)
    assert (in_tmp / "home" / "state.db").exists()
    assert not (in_tmp / ".pepperflow").exists()
    monkeypatch.setenv("PEPPERFLOW_HOME", "")
    assert default_state_path() == in_tmp / ".pepperflow" / "state.db"


async def test_the_default_path_is_read_when_the_factory_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    os.mkdir("first")
    os.chdir("first")
    factory = StateManagerFactory()
    os.chdir(tmp_path)
    persistent = factory.create_manager("p", "persistent")
    assert isinstance(persistent.store, SqliteStore)
    assert persistent.store.path == str(tmp_path / "first" / ".pepperflow" / "state.db")
    await factory.aclose()


async def test_store_specs_per_type(tmp_path: Path) -> None:
    app_store = MemoryStore("app-owned")
    made: list[str] = []

    def make(name: str) -> Store[Any]:
        made.append(name)
        return MemoryStore(f"made:{name}")

    async with StateManagerFactory(
        ephemeral=make,
        persistent=f"sqlite:///{tmp_path / 'p.db'}?namespace=app",
        shared=app_store,
    ) as factory:
        e = factory.create_manager("e")
        p = factory.create_manager("p", "persistent")
        s1 = factory.create_manager("s1", "shared")
        s2 = factory.create_manager("s2", "shared")
        assert e.store.name == "made:e" and made == ["e"]
        assert isinstance(p.store, SqliteStore) and p.store.name == "app:p"
        assert s1.store is app_store and s2.store is app_store
        await s1.set("k", 1)
        assert await s2.get("k") == 1, "managers over one store share its keys"
        await p.set("k", 1)
    assert not app_store.statistics().closed, "the application's store stays open"
    assert e.store.statistics().closed and p.store.statistics().closed
    async with StateManagerFactory(persistent=tmp_path / "by-path.db") as factory:
        p = factory.create_manager("p", "persistent")
        assert isinstance(p.store, SqliteStore)
        assert p.store.path == str(tmp_path / "by-path.db")
    async with StateManagerFactory(ephemeral="memory://mem") as factory:
        assert factory.create_manager("x").store.name == "mem:x"


async def test_bad_specs_fail_when_the_factory_is_made() -> None:
    with pytest.raises(UnknownStoreURL, match="unknown store scheme 'mongo'"):
        StateManagerFactory(shared="mongo://host")
    with pytest.raises(UnknownStoreURL, match="unknown sqlite option"):
        StateManagerFactory(persistent="sqlite:///x.db?bogus=1")
    with pytest.raises(TypeError, match=r"StateManagerFactory\(ephemeral=...\) must be"):
        StateManagerFactory(ephemeral=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty path"):
        StateManagerFactory(persistent="")
    factory = StateManagerFactory(ephemeral=lambda name: "nope")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="returned str, not a pepperflow store"):
        factory.create_manager("x")
    await factory.aclose()


async def test_the_factory_runs_its_stores_and_closes_them(in_tmp: Path) -> None:
    async with StateManagerFactory() as factory:
        ephemeral = factory.create_manager("e")
        persistent = factory.create_manager("p", "persistent")
        await ephemeral.set("short", 1, ttl=0.05)
        async with ephemeral.store.changes() as feed:
            with anyio.fail_after(5):
                change = await feed.__anext__()
        assert isinstance(change, ExpireChange), "the expiry task runs with no access"
        await persistent.open()
        assert persistent.store.statistics().running
    assert ephemeral.store.statistics().closed
    assert persistent.store.statistics().closed
    assert ephemeral.closed and persistent.closed
    with pytest.raises(anyio.ClosedResourceError):
        await ephemeral.get("short")
    with pytest.raises(anyio.ClosedResourceError, match="StateManagerFactory is closed"):
        factory.create_manager("new")


async def test_without_async_with_stores_open_on_first_use_and_aclose_closes_them(
    in_tmp: Path,
) -> None:
    factory = StateManagerFactory()
    persistent = factory.create_manager("p", "persistent")
    ephemeral = factory.create_manager("e")
    assert isinstance(persistent.store, SqliteStore)
    assert not persistent.store.statistics().running
    await persistent.set("k", 1)
    assert persistent.store.statistics().running
    await ephemeral.set("k", 1)
    assert not ephemeral.store.statistics().running, "a MemoryStore works unopened"
    await factory.aclose()
    await factory.aclose()  # idempotent
    assert persistent.store.statistics().closed
    assert ephemeral.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await persistent.get("k")


async def test_without_async_with_any_task_uses_and_closes_the_factory(in_tmp: Path) -> None:
    """Like notebook cells: one task opens the stores, later ones use and close them."""
    factory = StateManagerFactory()
    persistent = factory.create_manager("p", "persistent")
    shared = factory.create_manager("s", "shared")

    async def first() -> None:
        await persistent.set("k", 1)  # opens its SqliteStore, in a host task of its own
        await shared.set("k", 2)

    async def second() -> None:
        assert persistent.store.statistics().running, "still open after the first task"
        assert await persistent.get("k") == 1
        assert await shared.get("k") == 2
        await factory.create_manager("q", "persistent").set("k", 3)

    await run_cells(first, second, factory.aclose)
    assert persistent.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await persistent.get("k")
    reopened = StateManagerFactory()
    await run_cells(lambda: _expect(reopened, "p", 1), lambda: _expect(reopened, "q", 3))
    await reopened.aclose()


async def _expect(factory: StateManagerFactory, name: str, value: int) -> None:
    assert await factory.create_manager(name, "persistent").get("k") == value


async def test_a_store_a_factory_runs_is_closed_by_its_host_from_any_task(in_tmp: Path) -> None:
    factory = StateManagerFactory()
    persistent = factory.create_manager("p", "persistent")
    await run_cells(persistent.open, persistent.store.aclose)
    assert persistent.store.statistics().closed
    await factory.aclose()


async def test_a_manager_closed_alone_is_closed_for_good(in_tmp: Path) -> None:
    async with StateManagerFactory() as factory:
        persistent = factory.create_manager("p", "persistent")
        await persistent.set("k", 1)
        await persistent.aclose()
        assert persistent.store.statistics().closed
        assert factory.create_manager("p", "persistent") is persistent
        with pytest.raises(anyio.ClosedResourceError, match="PersistentStateManager 'p'"):
            await persistent.get("k")
        other = factory.create_manager("q", "persistent")
        await other.set("k", 2)
        assert await other.get("k") == 2


async def test_async_with_a_manager_from_a_factory_opens_then_closes_its_store(
    in_tmp: Path,
) -> None:
    async with StateManagerFactory() as factory:
        persistent = factory.create_manager("p", "persistent")
        async with persistent:
            assert persistent.store.statistics().running
        assert persistent.store.statistics().closed


async def test_every_manager_records_into_the_factorys_metrics(in_tmp: Path) -> None:
    metrics = MetricsRegistry()
    async with StateManagerFactory(metrics=metrics) as factory:
        assert factory.metrics is metrics
        for name, kind in (("e", "ephemeral"), ("p", "persistent"), ("s", "shared")):
            manager: BaseStateManager[Any] = factory.create_manager(name, kind)
            await manager.set("k", 1)
            await manager.get("missing")
    ops = "pepperflow_operations"
    assert metrics.total(ops, component="state", operation="set", outcome="ok") == 3
    assert metrics.value(ops, component="state", operation="set", outcome="ok", manager="p") == 1
    assert metrics.total(ops, component="state", operation="get", outcome="not_found") == 3


async def test_entering_twice_or_after_use_is_refused(in_tmp: Path) -> None:
    factory = StateManagerFactory()
    await factory.create_manager("p", "persistent").set("k", 1)
    with pytest.raises(RuntimeError, match="already running"):
        async with factory:
            pass
    await factory.aclose()
    async with StateManagerFactory() as entered:
        with pytest.raises(RuntimeError, match="already running"):
            await entered.__aenter__()
    assert "0 managers" in repr(StateManagerFactory())


async def test_a_store_that_fails_to_open_is_replaced_on_the_next_use(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    async with StateManagerFactory(persistent=blocker / "state.db") as factory:
        persistent = factory.create_manager("p", "persistent")
        first = persistent.store
        with pytest.raises(OSError, match="not-a-dir"):
            await persistent.set("k", 1)
        assert persistent.store is not first, "a fresh store for the next try"
        blocker.unlink()
        await persistent.set("k", 1)
        assert await persistent.get("k") == 1


async def test_a_cancelled_first_use_leaves_the_manager_usable(in_tmp: Path) -> None:
    async with StateManagerFactory() as factory:
        persistent = factory.create_manager("p", "persistent")
        with anyio.CancelScope() as scope:
            scope.cancel()
            await persistent.set("k", 1)
        assert await persistent.get("k") is None
        for delay in (0.0, 0.0005, 0.002, 0.01):
            with anyio.move_on_after(delay):
                await persistent.set("k", delay)
        await persistent.set("k", "last")
        assert await persistent.get("k") == "last"
        entry = await persistent.entry("k")
        assert entry is not None
        assert 1 <= entry.version <= 5


class _FailsToClose(MemoryStore[Any]):
    async def aclose(self) -> None:
        await super().aclose()
        raise OSError(f"{self.name} could not flush")


async def test_closing_closes_everything_then_raises_what_failed(in_tmp: Path) -> None:
    factory = StateManagerFactory(ephemeral=_FailsToClose)
    async with factory:
        await factory.create_manager("a").set("k", 1)
        fine = factory.create_manager("b", "persistent")
        await fine.set("k", 1)
        with pytest.raises(OSError, match="a could not flush"):
            await factory.aclose()  # inside the block: the group stays for it
        assert fine.store.statistics().closed, "the other stores are closed too"
    factory = StateManagerFactory(ephemeral=_FailsToClose)
    async with factory:
        for name in ("a", "b"):
            await factory.create_manager(name).set("k", 1)
        with pytest.raises(ExceptionGroup, match="closing failed") as caught:
            await factory.aclose()
    assert [str(error) for error in caught.value.exceptions] == [
        "b could not flush",
        "a could not flush",
    ], "the last manager made is closed first"
    assert "BaseStateManager 'a'" in str(caught.value)
