"""R058's validation test (000_b3757797c0b76923.txt, "Validação"), imports from pepperflow.

As written in the seed, with the factory closed at the end (its persistent
manager's SQLite store was opened on first use, in this task). The working
directory is the test's own, so the default PERSISTENT store,
``.pepperflow/state.db``, lands there. Beyond the seed, the test checks
what each step left behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pepperflow import StateManagerFactory, StateType
from pepperflow.stores import SqliteStore

pytestmark = pytest.mark.anyio


async def test_state_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)

    # Setup
    factory = StateManagerFactory()
    manager = factory.create_manager("test")

    # Test basic operations
    await manager.set("key1", "value1")
    value = await manager.get("key1")
    assert value == "value1"

    # Test persistent state
    persistent = factory.create_manager("persistent", "persistent")
    await persistent.set("key2", "value2", StateType.PERSISTENT)
    value = await persistent.get("key2")
    assert value == "value2"

    # Test shared state
    shared = factory.create_manager("shared", "shared")
    results = []

    async def on_change(key: str, value: str) -> None:
        results.append((key, value))

    shared.subscribe("key3", on_change)
    await shared.set("key3", "value3", StateType.SHARED)
    assert len(results) == 1
    assert results[0] == ("key3", "value3")

    # Test listing
    await manager.set("prefix:1", "value1")
    await manager.set("prefix:2", "value2")
    keys = await manager.list("prefix:")
    assert len(keys) == 2

    # Beyond the seed: the persistent state is in the default file.
    assert factory.create_manager("persistent", "persistent") is persistent
    assert isinstance(persistent.store, SqliteStore)
    assert Path(persistent.store.path) == tmp_path / ".pepperflow" / "state.db"
    assert keys == ["prefix:1", "prefix:2"]
    assert await manager.list(type=StateType.EPHEMERAL) == ["key1", "prefix:1", "prefix:2"]
    await factory.aclose()
    async with SqliteStore(tmp_path / ".pepperflow" / "state.db", namespace="persistent") as file:
        assert await file.get("key2") == "value2"
