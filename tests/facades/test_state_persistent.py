"""PersistentStateManager on its own: the default file, reopening, lifecycle."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pepperflow import PersistentStateManager, StateType, default_state_path
from pepperflow.stores import MemoryStore, SqliteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)
    return tmp_path


async def test_by_default_it_keeps_state_in_the_default_file(in_tmp: Path) -> None:
    async with PersistentStateManager[str](name="settings") as settings:
        assert isinstance(settings.store, SqliteStore)
        assert Path(settings.store.path) == default_state_path()
        assert default_state_path() == in_tmp / ".pepperflow" / "state.db"
        assert settings.store.name == "settings"
        await settings.set("theme", "dark")
        entry = await settings.entry("theme")
        assert entry is not None and entry.type is StateType.PERSISTENT
    assert settings.store.statistics().closed


async def test_state_is_there_again_after_reopening(in_tmp: Path) -> None:
    async with PersistentStateManager[int](name="n") as first:
        await first.set("a", 1, metadata={"why": "test"})
        await first.set("a", 2)
        await first.set("b", 1)
        await first.delete("b")
        before = await first.entry("a")
    async with PersistentStateManager[int](name="n") as again:
        after = await again.entry("a")
        assert after == before
        assert await again.exists("b") is False
        assert await again.list() == ["a"]
        await again.set("a", 3)
        latest = await again.entry("a")
        assert latest is not None and latest.version == 3
    async with PersistentStateManager[int](name="other") as other:
        assert await other.list() == [], "another name is another namespace of the file"


async def test_without_async_with_it_opens_on_first_use_and_aclose_closes(in_tmp: Path) -> None:
    state: PersistentStateManager[int] = PersistentStateManager()
    assert not state.store.statistics().running
    assert await state.get("k") is None
    assert state.store.statistics().running
    await state.set("k", 1)
    await state.aclose()
    assert state.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await state.get("k")
    reopened: PersistentStateManager[int] = PersistentStateManager()
    assert await reopened.get("k") == 1
    await reopened.aclose()


async def test_open_makes_the_store_run_before_any_operation(in_tmp: Path) -> None:
    state: PersistentStateManager[int] = PersistentStateManager()
    await state.open()
    await state.open()  # idempotent
    assert state.store.statistics().running
    await state.aclose()


async def test_a_path_a_url_or_a_store_instead_of_the_default(tmp_path: Path) -> None:
    async with PersistentStateManager[int](tmp_path / "x.db", name="p") as by_path:
        assert isinstance(by_path.store, SqliteStore)
        assert by_path.store.path == str(tmp_path / "x.db")
        await by_path.set("k", 1)
    async with PersistentStateManager[int](f"sqlite:///{tmp_path / 'x.db'}", name="p") as by_url:
        assert await by_url.get("k") == 1
    store = MemoryStore("tests")
    over_memory: PersistentStateManager[int] = PersistentStateManager(store)
    await over_memory.set("k", 1)
    assert await store.get("k") == 1
    await over_memory.aclose()
    assert not store.statistics().closed


async def test_it_keeps_persistent_state_only(in_tmp: Path) -> None:
    async with PersistentStateManager[int]() as state:
        with pytest.raises(ValueError, match="keeps PERSISTENT state, not EPHEMERAL"):
            await state.set("k", 1, StateType.EPHEMERAL)
        await state.set("k", 1, StateType.PERSISTENT)
        assert await state.list(type=StateType.PERSISTENT) == ["k"]


async def test_persistent_writes_are_changes_too(in_tmp: Path) -> None:
    async with PersistentStateManager[int]() as state:
        keys: list[tuple[str, str]] = []
        state.store.subscribe(None, lambda change: keys.append((change.key, type(change).__name__)))
        await state.set("k", 1)
        await state.delete("k")
        await state.set("t", 1, ttl=0.05)
        with anyio.fail_after(5):
            while len(keys) < 4:
                await anyio.sleep(0.01)
    assert keys == [
        ("k", "SetChange"),
        ("k", "DeleteChange"),
        ("t", "SetChange"),
        ("t", "ExpireChange"),
    ]
